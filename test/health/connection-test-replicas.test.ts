import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HealthProbeReply } from '@aigw/core';
import { type CatalogService, createRedis, RedisErrors, RedisKeys } from '@aigw/platform';
import { TEST_REDIS_URL, uniqueId } from '@aigw/testing';
import type { Redis } from 'ioredis';
import type { MonitorEnv } from '../../apps/health-monitor/src/config/monitor-env';
import { ConnectionTestService } from '../../apps/health-monitor/src/probe/connection-test.service';
import { quiet } from '../gateway/cache-fixtures';

/**
 * Every monitor replica hears a `health.probe` request (pub/sub). Two replicas (two services on one real Redis)
 * answering one test probe the provider once between them and give the same reply; without a test id (an older
 * gateway) each probes as before.
 */
describe('connection test with two monitor replicas', () => {
  const prefix = uniqueId('conntest');
  const errors = new RedisErrors(quiet);
  const env = { REDIS_URL: TEST_REDIS_URL, REDIS_PREFIX: prefix, PROBE_TIMEOUT_MS: 2000 } as MonitorEnv;
  // An unsaved provider's test reads nothing of the catalog but its gateways.
  const catalog = {
    reload: () => Promise.resolve(),
    current: { providers: [], gateways: [] },
    provider: () => undefined,
  };
  let hits = 0;
  let server: Server;
  let baseUrl: string;
  let redis: Redis;
  let replicas: ConnectionTestService[];

  beforeAll(async () => {
    server = createServer((req, res) => {
      hits++;
      // Slow enough that both replicas hear the request while it runs.
      setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{"data":[{"id":"m1"}]}'), 200);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
    redis = createRedis(TEST_REDIS_URL, `${prefix}:cmd`, errors);
    replicas = [0, 1].map(
      () => new ConnectionTestService(env, catalog as unknown as CatalogService, redis, new RedisKeys(prefix)),
    );
  });

  afterAll(async () => {
    for (const r of replicas ?? []) {
      await r.onApplicationShutdown();
    }
    if (redis !== undefined) {
      const stale = await redis.keys(`${prefix}:*`);
      if (stale.length > 0) {
        await redis.del(...stale);
      }
      redis.disconnect();
    }
    await new Promise<void>((resolve) => server?.close(() => resolve()));
  });

  const request = (testId?: string) => ({
    provider: { kind: 'openai', baseUrl, routing: 'direct', models: ['m1'] },
    ...(testId === undefined ? {} : { testId }),
  });

  it('probes once per test id, and both replicas answer the same', async () => {
    hits = 0;
    const testId = uniqueId('t');
    const replies: HealthProbeReply[] = await Promise.all(replicas.map((r) => r.handle(request(testId))));
    expect(hits).toBe(1);
    expect(replies[0]).toMatchObject({ ok: true, result: { routes: [{ route: 'direct', ok: true, models: ['m1'] }] } });
    expect(replies[1]).toEqual(replies[0]);
  });

  it('probes on each replica for a request without a test id', async () => {
    hits = 0;
    const replies = await Promise.all(replicas.map((r) => r.handle(request())));
    expect(hits).toBe(2);
    expect(replies.every((r) => r.ok)).toBe(true);
  });

  it('refuses a malformed test id', async () => {
    expect(await replicas[0].handle(request('a b'))).toMatchObject({ ok: false, reason: 'invalid_request' });
  });
});
