import { Global, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { ErrorEnvelopeFilter, HealthModule, REDIS } from '@aigw/platform';
import { runMigrationsLocked } from '@aigw/entities';
import { freePort } from '@aigw/testing';
import { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { dropSchema, openDataSource, uniqueSchema } from '../entities/pg';

/**
 * An app with the error envelope filter (the api-gateway, the single process) answers a failed readiness check with
 * the check's own result, naming what is down, as the apps without the filter do: not as an error envelope.
 */
describe('/health/ready behind the error envelope filter', () => {
  let app: NestFastifyApplication;
  let redis: Redis;
  const schema = uniqueSchema('ready');
  let db: DataSource;

  beforeAll(async () => {
    // Nothing listens there: the Redis check fails at once, the database check passes.
    redis = new Redis(`redis://127.0.0.1:${await freePort()}`, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    db = await openDataSource(schema);
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
  });

  afterAll(async () => {
    await app?.close();
    redis.disconnect();
    await db.destroy();
    await dropSchema(schema);
  });

  it('is a 503 naming the check that failed', async () => {
    const res = await app.inject({ method: 'GET', url: '/health/ready' });
    expect(res.statusCode).toBe(503);
    const body = res.json<{
      status: string;
      error: Record<string, { status: string }>;
      info: Record<string, unknown>;
    }>();
    expect(body.status).toBe('error');
    expect(body.error.redis.status).toBe('down');
    expect(Object.keys(body.info)).toEqual(['database']);
  });

  it('names the database down when its schema is gone, though the server answers', async () => {
    await db.query(`DROP SCHEMA "${schema}" CASCADE`);
    const res = await app.inject({ method: 'GET', url: '/health/ready' });
    const body = res.json<{ error: Record<string, { status: string; message?: string }> }>();
    expect(body.error.database.status).toBe('down');
    expect(body.error.database.message).toContain('migrations');
  });

  it('other errors keep the envelope', async () => {
    const res = await app.inject({ method: 'GET', url: '/no/such/route' });
    expect(res.statusCode).toBe(404);
    expect(Object.keys(res.json<object>())).toEqual(['error']);
  });
});
