import { Global, Logger, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import {
  ErrorEnvelopeFilter,
  HealthModule,
  READY_RESULT_TTL_MS,
  ReadinessChecks,
  ReadinessProblem,
  REDIS,
} from '@aigw/platform';
import { createDataSourceOptions, runMigrationsLocked } from '@aigw/entities';
import { CuttableRelay, freePort, sleep } from '@aigw/testing';
import { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { dropSchema, uniqueSchema } from '../entities/pg';

type Health = {
  status: string;
  error: Record<string, { status: string; message?: string }>;
  info: Record<string, unknown>;
};

/** Past the last readiness run's answer: the next caller runs the checks again. */
const afterLastRun = (): Promise<void> => sleep(READY_RESULT_TTL_MS);

/**
 * An app with the error envelope filter (the api-gateway, the single process) answers a failed readiness check with
 * the check's own result, naming what is down, as the apps without the filter do: not as an error envelope. The
 * route is open without a key, so a check's own error (hosts, ports, user names, SQL) never shows in it.
 */
describe('/health/ready behind the error envelope filter', () => {
  let app: NestFastifyApplication;
  let redis: Redis;
  const schema = uniqueSchema('ready');
  let db: DataSource;
  const relay = new CuttableRelay();

  beforeAll(async () => {
    // Nothing listens there: the Redis check fails at once, the database check passes.
    redis = new Redis(`redis://127.0.0.1:${await freePort()}`, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    await relay.open();
    db = await new DataSource(createDataSourceOptions({ url: relay.url(), schema })).initialize();
    await runMigrationsLocked(db);
    @Global()
    @Module({
      providers: [
        { provide: REDIS, useValue: redis },
        { provide: DataSource, useValue: db },
      ],
      exports: [REDIS, DataSource],
    })
    class Dependencies {}
    const moduleRef = await Test.createTestingModule({
      imports: [Dependencies, HealthModule],
      providers: [{ provide: APP_FILTER, useClass: ErrorEnvelopeFilter }],
    }).compile();
    app = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter());
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
    app.get(ReadinessChecks).add('router-worker', () => Promise.reject(new ReadinessProblem('not taking jobs')));
  });

  afterAll(async () => {
    await app?.close();
    redis.disconnect();
    await relay.cut();
    await db.destroy();
    await dropSchema(schema);
  });

  it('is a 503 naming the check that failed', async () => {
    const res = await app.inject({ method: 'GET', url: '/health/ready' });
    expect(res.statusCode).toBe(503);
    const body = res.json<Health>();
    expect(body.status).toBe('error');
    expect(body.error.redis).toEqual({ status: 'down', message: 'unavailable' });
    expect(Object.keys(body.info)).toEqual(['database']);
  });

  it("shows a check's own reason when it is one meant to be shown", async () => {
    const body = (await app.inject({ method: 'GET', url: '/health/ready' })).json<Health>();
    expect(body.error['router-worker']).toEqual({ status: 'down', message: 'not taking jobs' });
  });

  it('names the database down when its schema is gone, though the server answers, without the SQL or schema', async () => {
    await db.query(`DROP SCHEMA "${schema}" CASCADE`);
    await afterLastRun();
    const res = await app.inject({ method: 'GET', url: '/health/ready' });
    expect(res.json<Health>().error.database).toEqual({ status: 'down', message: 'unavailable' });
    expect(res.body).not.toContain(schema);
    expect(res.body).not.toContain('migrations');
  });

  it('names the database down when PostgreSQL is gone, without its host or port', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    await relay.cut();
    await afterLastRun();
    const res = await app.inject({ method: 'GET', url: '/health/ready' });
    expect(res.statusCode).toBe(503);
    expect(res.json<Health>().error.database).toEqual({ status: 'down', message: 'unavailable' });
    expect(res.body).not.toContain(String(relay.port));
    expect(res.body).not.toContain('127.0.0.1');
    // The operator finds the cause in the log (first, maybe, the pooled connection that ended), once while it stays
    // the same.
    const databaseLines = (): string[] =>
      warn.mock.calls.map(([line]) => String(line)).filter((l) => l.includes('check database'));
    await afterLastRun();
    await app.inject({ method: 'GET', url: '/health/ready' });
    const logged = databaseLines();
    expect(logged.at(-1)).toContain(`ECONNREFUSED 127.0.0.1:${relay.port}`);
    await afterLastRun();
    await app.inject({ method: 'GET', url: '/health/ready' });
    expect(databaseLines()).toEqual(logged);
    warn.mockRestore();
  });

  it('callers at the same time share one run of the checks; a caller after READY_RESULT_TTL_MS runs them again', async () => {
    let runs = 0;
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    app.get(ReadinessChecks).add('held', async () => {
      runs++;
      await held;
      throw new ReadinessProblem('held');
    });
    await afterLastRun();
    const answers = Array.from({ length: 5 }, () => app.inject({ method: 'GET', url: '/health/ready' }));
    await new Promise((resolve) => setTimeout(resolve, 50));
    release();
    const results = await Promise.all(answers);
    expect(runs).toBe(1);
    for (const res of results) {
      expect(res.statusCode).toBe(503);
      expect(res.json<Health>().error.held).toEqual({ status: 'down', message: 'held' });
    }
    await app.inject({ method: 'GET', url: '/health/ready' });
    expect(runs).toBe(1);
    await afterLastRun();
    await app.inject({ method: 'GET', url: '/health/ready' });
    expect(runs).toBe(2);
  });

  it('other errors keep the envelope', async () => {
    const res = await app.inject({ method: 'GET', url: '/no/such/route' });
    expect(res.statusCode).toBe(404);
    expect(Object.keys(res.json<object>())).toEqual(['error']);
  });
});
