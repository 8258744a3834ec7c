import { createServer, type IncomingHttpHeaders } from 'node:http';
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

const down: ProbedRoute[] = [
  {
    check: {
      route: 'direct',
      ok: false,
      latencyMs: 5,
      status: null,
      errorClass: 'network',
      message: 'connection_refused: nothing accepts connections',
    },
    probe: { route: 'direct', ok: false, latencyMs: 5 },
  },
];

/**
 * The crash window between deciding an alert and queueing its delivery (real PostgreSQL, Redis and a loopback
 * webhook). The transition is committed with the probe's status update; the delivery job was added after it. A
 * monitor that died (or lost Redis) between the two never alerted: the status was already `failing`, so no later
 * probe saw a transition. The alert is now written to an outbox in the status update's transaction, and the relay
 * job queues whatever is still in it; every delivery carries an id the receiver can dedupe by.
 */
describe('health alerts: durable across a crash between the status update and the delivery job', () => {
  const schema = uniqueSchema('outbox');
  const prefix = uniqueId('outbox');
  const keys = new RedisKeys(prefix);
  const errors = new RedisErrors(quiet);
  const received: { headers: IncomingHttpHeaders; alert: HealthAlert }[] = [];
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      received.push({ headers: req.headers, alert: JSON.parse(raw) as HealthAlert });
      res.writeHead(204).end();
    });
  });
  let env: MonitorEnv;
  let ds: DataSource;
  let store: ProviderHealthStore;
  let catalog: Catalog;
  let redis: Redis;
  let queue: HealthQueue | undefined;

  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    env = {
      REDIS_URL: TEST_REDIS_URL,
      REDIS_PREFIX: prefix,
      HEALTH_CONCURRENCY: 2,
      ALERT_CONCURRENCY: 2,
      ALERT_WEBHOOK_TIMEOUT_MS: 5000,
      ALERT_WEBHOOK_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`,
      HEALTH_FAILURE_THRESHOLD: 2,
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

  /** A monitor process: its probes of p1 all fail; `alerts` is what it raises alerts with. */
  function monitor(alerts: Alerts): HealthJobs {
    const catalogService = {
      current: catalog,
      provider: (id: string) => catalog.providers.find((p) => p.id === id),
    } as unknown as CatalogService;
    const prober = { probeProvider: () => Promise.resolve(down) } as unknown as Prober;
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

  it('delivers the alert of a transition whose monitor died before queueing it, with an idempotency id', async () => {
    // The first process dies right after the status update committed, before the delivery is queued.
    const dying = {
      onRecorded: (_s: HealthSubject, health: RecordedHealth) =>
        health.status === 'failing' ? Promise.reject(new Error('SIGKILL')) : Promise.resolve(),
    } as unknown as Alerts;
    const first = monitor(dying);
    await first.probeProvider('p1');
    await expect(first.probeProvider('p1')).rejects.toThrow('SIGKILL');
    expect((await store.providerHealth()).get('p1')?.status).toBe('failing');

    // A monitor comes up again; the provider is still down (no transition left to see). Its periodic relay runs.
    queue = new HealthQueue(env, keys, errors);
    const metrics = new MonitorMetrics(new Registry(), store, {} as CatalogService);
    const alerts = new Alerts(env, queue, metrics, redis, keys, store);
    const restarted = monitor(alerts);
    queue.start(restarted.process);
    await restarted.probeProvider('p1');
    await queue.queue.add('relay-alerts' as HealthJobName, {});
    await waitFor(() => received.length > 0, { timeoutMs: 10_000 });
    const [got] = received;
    expect(got.alert).toMatchObject({ kind: 'failing', subject: 'provider', id: 'p1', status: 'failing' });
    expect(got.alert.alertId).toMatch(/^[0-9a-f-]{36}$/);
    expect(got.headers['idempotency-key']).toBe(got.alert.alertId);

    // Delivered: the outbox is empty, so a later relay sends nothing again.
    await waitFor(async () => (await store.pendingAlerts(10)).length === 0, { timeoutMs: 5000 });
    await queue.queue.add('relay-alerts' as HealthJobName, {});
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(received).toHaveLength(1);
  });
});
