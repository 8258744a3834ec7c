import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type HealthAlert, type HealthJobName, parseCatalog, type Catalog } from '@aigw/core';
import {
  CatalogStore,
  ProviderHealthStore,
  runMigrationsLocked,
  SecretBox,
  type HealthSubject,
  type RecordedHealth,
  type UsageRetentionStore,
} from '@aigw/entities';
import { createRedis, RedisErrors, RedisKeys, type CatalogService } from '@aigw/platform';
import { TEST_REDIS_URL, uniqueId, waitFor } from '@aigw/testing';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import type { DataSource } from 'typeorm';
import type { MonitorEnv } from '../../apps/health-monitor/src/config/monitor-env';
import { Alerts } from '../../apps/health-monitor/src/health/alerts';
import { HealthJobs } from '../../apps/health-monitor/src/health/health-jobs';
import { HealthQueue } from '../../apps/health-monitor/src/health/health-queue';
import { MonitorMetrics } from '../../apps/health-monitor/src/health/monitor-metrics';
import type { ProbedRoute, Prober } from '../../apps/health-monitor/src/health/prober';
import { quiet } from '../gateway/cache-fixtures';
import { dropSchema, openDataSource, uniqueSchema } from '../entities/pg';

const YAML = `
providers:
  - id: p1
    kind: openai
    baseUrl: http://127.0.0.1:1/v1
    models:
      - { name: m1, promptPer1k: 0, completionPer1k: 0, contextWindow: 1000 }
`;

function probed(ok: boolean): ProbedRoute[] {
  return [
    {
      check: {
        route: 'direct',
        ok,
        latencyMs: 5,
        status: ok ? 200 : null,
        errorClass: ok ? null : 'network',
        message: ok ? null : 'connection_refused: nothing accepts connections',
      },
      probe: { route: 'direct', ok, latencyMs: 5 },
    },
  ];
}

/**
 * A relayed alert and a newer one of the same subject (real PostgreSQL, Redis and a loopback webhook). A monitor
 * recorded p1 `failing` and died before queueing the alert (it stays in the outbox); another replica then records p1
 * recovered and queues that alert at once. The order set only held alerts already queued, so `recovered` went out
 * first and the relay sent `failing` after it: the receiver was left believing p1 down.
 */
describe('health alerts: an alert left in the outbox still reaches the webhook before the newer ones of its subject', () => {
  const schema = uniqueSchema('relayorder');
  const prefix = uniqueId('relayorder');
  const keys = new RedisKeys(prefix);
  const errors = new RedisErrors(quiet);
  const received: HealthAlert[] = [];
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      received.push(JSON.parse(raw) as HealthAlert);
      res.writeHead(204).end();
    });
  });
  let env: MonitorEnv;
  let ds: DataSource;
  let store: ProviderHealthStore;
  let catalog: Catalog;
  let redis: Redis;
  let queue: HealthQueue | undefined;
  let up = false;

  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    env = {
      REDIS_URL: TEST_REDIS_URL,
      REDIS_PREFIX: prefix,
      HEALTH_CONCURRENCY: 2,
      ALERT_CONCURRENCY: 2,
      ALERT_WEBHOOK_TIMEOUT_MS: 5000,
      ALERT_WEBHOOK_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`,
      HEALTH_FAILURE_THRESHOLD: 1,
      HEALTH_SLOW_MS: 1000,
      HEALTH_WINDOW: 5,
      HEALTH_INTERVAL_S: 300,
      PROBE_TIMEOUT_MS: 10_000,
    } as MonitorEnv;
    ds = await openDataSource(schema);
    await runMigrationsLocked(ds, () => undefined);
    catalog = parseCatalog(YAML, {});
    await new CatalogStore(ds, SecretBox.fromEnv(undefined, 'test').box).seed(catalog);
    store = new ProviderHealthStore(ds);
    redis = createRedis(TEST_REDIS_URL, `${prefix}:test`, errors);
  });

  afterAll(async () => {
    await queue?.onApplicationShutdown();
    if (redis !== undefined) {
      const stale = await redis.keys(`*${prefix}*`);
      if (stale.length > 0) {
        await redis.del(...stale);
      }
      redis.disconnect();
    }
    await ds?.destroy();
    await dropSchema(schema);
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  function monitor(alerts: Alerts): HealthJobs {
    const catalogService = {
      current: catalog,
      provider: (id: string) => catalog.providers.find((p) => p.id === id),
    } as unknown as CatalogService;
    const prober = { probeProvider: () => Promise.resolve(probed(up)) } as unknown as Prober;
    const metrics = new MonitorMetrics(new Registry(), store, catalogService);
    return new HealthJobs(
      env,
      catalogService,
      store,
      {} as UsageRetentionStore,
      prober,
      alerts,
      metrics,
      redis,
      keys,
      errors,
    );
  }

  it('delivers the relayed `failing` before the `recovered` another replica raised since', async () => {
    const dying = {
      onRecorded: (_s: HealthSubject, health: RecordedHealth) =>
        health.status === 'failing' ? Promise.reject(new Error('SIGKILL')) : Promise.resolve(),
    } as unknown as Alerts;
    up = false;
    await expect(monitor(dying).probeProvider('p1')).rejects.toThrow('SIGKILL');
    expect(await store.pendingAlerts(10)).toHaveLength(1);

    // Another replica, before any relay ran: p1 works again.
    queue = new HealthQueue(env, keys, errors);
    const alerts = new Alerts(
      env,
      queue,
      new MonitorMetrics(new Registry(), store, {} as CatalogService),
      redis,
      keys,
      store,
    );
    const replica = monitor(alerts);
    queue.start(replica.process);
    up = true;
    await replica.probeProvider('p1');
    await queue.queue.add('relay-alerts' as HealthJobName, {});

    await waitFor(() => received.length >= 2, { timeoutMs: 15_000 });
    expect(received.map((a) => a.kind)).toEqual(['failing', 'recovered']);
    expect(Date.parse(received[0].at)).toBeLessThan(Date.parse(received[1].at));
    await waitFor(async () => (await store.pendingAlerts(10)).length === 0, { timeoutMs: 5000 });
  });
});
