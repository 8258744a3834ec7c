import http from 'node:http';
import { Global, Module } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { HealthModule, READY_RESULT_TTL_MS, ReadinessChecks, ReadinessProblem, REDIS } from '@aigw/platform';
import { createDataSourceOptions, runMigrationsLocked } from '@aigw/entities';
import { sleep, TEST_REDIS_URL } from '@aigw/testing';
import { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { DATABASE_URL, dropSchema, uniqueSchema } from '../entities/pg';

/** One GET of `/health/ready` on a connection of its own, as each kubelet and load balancer probe comes. */
function probe(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/health/ready', agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
  });
}

/**
 * `/health/ready` is open and probed often (every pod by its kubelet every few seconds, load balancers too): a burst
 * of probes runs the PostgreSQL query and the Redis ping once, and the answer is at most READY_RESULT_TTL_MS old, so
 * an outage still shows within that.
 */
describe('/health/ready under a burst of probes', () => {
  let app: NestFastifyApplication;
  let port: number;
  let redis: Redis;
  let db: DataSource;
  const schema = uniqueSchema('readycache');
  const queries = { database: 0, redis: 0 };
  let failing = false;

  beforeAll(async () => {
    redis = new Redis(TEST_REDIS_URL, { lazyConnect: true });
    db = await new DataSource(createDataSourceOptions({ url: DATABASE_URL, schema })).initialize();
    await runMigrationsLocked(db);
    // Counted on the way through: the real server answers every one.
    const ping = redis.ping.bind(redis);
    jest.spyOn(redis, 'ping').mockImplementation(() => {
      queries.redis++;
      return ping();
    });
    const query = db.query.bind(db);
    jest.spyOn(db, 'query').mockImplementation((sql: string, params?: unknown[]) => {
      queries.database++;
      return query(sql, params);
    });
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
    app
      .get(ReadinessChecks)
      .add('switch', () => (failing ? Promise.reject(new ReadinessProblem('switched off')) : Promise.resolve()));
    await app.listen(0, '127.0.0.1');
    port = (app.getHttpServer().address() as { port: number }).port;
  });

  afterAll(async () => {
    await app?.close();
    redis.disconnect();
    await db?.destroy();
    await dropSchema(schema);
  });

  beforeEach(async () => {
    await sleep(READY_RESULT_TTL_MS);
    failing = false;
    queries.database = 0;
    queries.redis = 0;
  });

  it('200 concurrent probes run one database query and one Redis ping', async () => {
    const codes = await Promise.all(Array.from({ length: 200 }, () => probe(port)));
    expect(new Set(codes)).toEqual(new Set([200]));
    expect(queries).toEqual({ database: 1, redis: 1 });
  });

  it('probes one after another within READY_RESULT_TTL_MS share one run; the next after it runs the checks again', async () => {
    const started = performance.now();
    let probes = 0;
    while (performance.now() - started < READY_RESULT_TTL_MS / 2) {
      expect(await probe(port)).toBe(200);
      probes++;
    }
    expect(probes).toBeGreaterThan(1);
    expect(queries).toEqual({ database: 1, redis: 1 });
    await sleep(READY_RESULT_TTL_MS);
    expect(await probe(port)).toBe(200);
    expect(queries).toEqual({ database: 2, redis: 2 });
  });

  it('an outage shows within READY_RESULT_TTL_MS, and so does the recovery', async () => {
    // No upper time limit is asserted (shared hosts are noisy): a probe READY_RESULT_TTL_MS after the change must
    // already see it, since the run whose result it could have reused began before the change.
    expect(await probe(port)).toBe(200);
    failing = true;
    await sleep(READY_RESULT_TTL_MS);
    expect(await probe(port)).toBe(503);
    failing = false;
    await sleep(READY_RESULT_TTL_MS);
    expect(await probe(port)).toBe(200);
  });
});
