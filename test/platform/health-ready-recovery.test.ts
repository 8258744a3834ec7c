import { Global, Module } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { HealthModule, READY_RESULT_TTL_MS, REDIS } from '@aigw/platform';
import { createDataSourceOptions, runMigrationsLocked } from '@aigw/entities';
import { CuttableRelay, sleep, TEST_REDIS_URL } from '@aigw/testing';
import { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { dropSchema, uniqueSchema } from '../entities/pg';
import { captureAppLog } from './app-log';

/**
 * PostgreSQL goes away and comes back (a relay on loopback cut and reopened: the shared server cannot be stopped).
 * The log said when the readiness check found it down, once per outage; it must also say, once, when it is back:
 * otherwise its last word is "down", and an operator reading it cannot tell an outage that ended from one going on.
 * Read off the app's log at LOG_LEVEL=warn: the line saying it is back was written at `log`, hidden there, while the
 * outage's warning showed.
 */
describe('/health/ready logs when PostgreSQL is back', () => {
  let app: NestFastifyApplication;
  let redis: Redis;
  let db: DataSource;
  const schema = uniqueSchema('readyback');
  const relay = new CuttableRelay();
  let log: ReturnType<typeof captureAppLog>;
  /** The lines about the database the log shows at LOG_LEVEL=warn, in order, as `level message`. */
  const lines = (): string[] =>
    log.lines.filter((l) => l.message.includes('check database')).map((l) => `${l.level} ${l.message}`);

  /** One probe, past the last run's answer (READY_RESULT_TTL_MS): the checks run again. */
  async function probe(): Promise<number> {
    await sleep(READY_RESULT_TTL_MS);
    return (await app.inject({ method: 'GET', url: '/health/ready' })).statusCode;
  }

  /** Probes until the answer is `status` (a pooled connection cut by the relay may fail one more query). */
  async function probeUntil(status: number): Promise<void> {
    for (let i = 0; i < 20; i++) {
      if ((await probe()) === status) {
        return;
      }
    }
    throw new Error(`/health/ready never answered ${status}`);
  }

  beforeAll(async () => {
    redis = new Redis(TEST_REDIS_URL, { lazyConnect: true });
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
    const moduleRef = await Test.createTestingModule({ imports: [Dependencies, HealthModule] }).compile();
    app = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter());
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
    log = captureAppLog('warn');
  });

  afterAll(async () => {
    log?.stop();
    await app?.close();
    redis.disconnect();
    await relay.open();
    await db.destroy();
    await relay.cut();
    await dropSchema(schema);
  });

  it('says nothing while it is up', async () => {
    expect(await probe()).toBe(200);
    expect(await probe()).toBe(200);
    expect(lines()).toEqual([]);
  });

  it('logs it down once, and back once, per outage, however many probes meet it', async () => {
    for (let outage = 1; outage <= 2; outage++) {
      const before = lines().length;
      await relay.cut();
      await probeUntil(503);
      // More probes during the outage add no line (the reason may change once: the pooled connection that ended,
      // then the refused connect).
      await probe();
      await probe();
      await probe();
      await relay.open();
      await probeUntil(200);
      expect(await probe()).toBe(200);
      expect(await probe()).toBe(200);

      const thisOutage = lines().slice(before);
      expect(thisOutage[0]).toMatch(/^warn readiness check database is down: /);
      expect(thisOutage.slice(0, -1).every((l) => l.startsWith('warn readiness check database is down: '))).toBe(true);
      expect(thisOutage.length - 1).toBeLessThanOrEqual(2);
      expect(thisOutage.at(-1)).toMatch(
        /^warn readiness check database is back up \(down since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\)$/,
      );
    }
  }, 60_000);
});
