import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type HealthJobName, parseCatalog, type Catalog } from '@aigw/core';
import {
  CatalogStore,
  ProviderHealthStore,
  runMigrationsLocked,
  SecretBox,
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
 * An alert whose delivery was given up (its last attempt failed) while PostgreSQL was unreachable (real PostgreSQL,
 * Redis and a loopback webhook that answers 500). Its outbox row could not be deleted, so the relay queued it again
 * every minute; the failed job kept under its id made each add a no-op, so the row stayed in the outbox (and kept the
 * subject's order set alive) until a thousand later failures trimmed the job away.
 */
describe('health alerts: the outbox row of an alert given up while PostgreSQL was away is cleaned by the relay', () => {
  const schema = uniqueSchema('givenup');
  const prefix = uniqueId('givenup');
  const keys = new RedisKeys(prefix);
  const errors = new RedisErrors(quiet);
  let posts = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      posts++;
      res.writeHead(500).end();
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

  it('drops the row at the next relay instead of leaving it for good', async () => {
    const catalogService = {
      current: catalog,
      provider: (id: string) => catalog.providers.find((p) => p.id === id),
    } as unknown as CatalogService;
    const dying = {
      onRecorded: () => Promise.reject(new Error('SIGKILL')),
    } as unknown as Alerts;
    const prober = { probeProvider: () => Promise.resolve(probed(false)) } as unknown as Prober;
    const metrics = new MonitorMetrics(new Registry(), store, catalogService);
    const jobsOf = (alerts: Alerts) =>
      new HealthJobs(
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
    await expect(jobsOf(dying).probeProvider('p1')).rejects.toThrow('SIGKILL');
    const [alert] = await store.pendingAlerts(10);
    expect(alert.alertId).toBeDefined();

    // PostgreSQL is away when the delivery is given up: the row cannot be deleted then.
    let pgAway = true;
    const flaky = Object.create(store) as ProviderHealthStore;
    flaky.alertDone = (id: string) => (pgAway ? Promise.reject(new Error('ECONNREFUSED')) : store.alertDone(id));
    queue = new HealthQueue(env, keys, errors);
    const alerts = new Alerts(env, queue, metrics, redis, keys, flaky);
    queue.start(jobsOf(alerts).process);
    // The delivery at its last attempt (as after its 8th): one POST, answered 500, given up.
    await queue.alerts.add('send-alert' as HealthJobName, { alert }, { jobId: `alert-${alert.alertId}`, attempts: 1 });
    await waitFor(async () => (await queue?.alerts.getJobState(`alert-${alert.alertId}`)) === 'failed', {
      timeoutMs: 10_000,
    });
    expect(posts).toBe(1);
    expect(await store.pendingAlerts(10)).toHaveLength(1);

    // PostgreSQL is back; the relay runs.
    pgAway = false;
    await alerts.relay();
    expect(await store.pendingAlerts(10)).toHaveLength(0);
    expect(posts).toBe(1);
  });
});
