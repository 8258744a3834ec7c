import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HealthJobName, type ProviderSpec } from '@aigw/core';
import type { ProviderHealthStore, RecordedHealth, UsageRetentionStore } from '@aigw/entities';
import { createRedis, RedisErrors, RedisKeys, type CatalogService } from '@aigw/platform';
import { TEST_REDIS_URL, uniqueId, waitFor } from '@aigw/testing';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import type { MonitorEnv } from '../../apps/health-monitor/src/config/monitor-env';
import { Alerts } from '../../apps/health-monitor/src/health/alerts';
import { HealthJobs } from '../../apps/health-monitor/src/health/health-jobs';
import { HealthQueue } from '../../apps/health-monitor/src/health/health-queue';
import { MonitorMetrics } from '../../apps/health-monitor/src/health/monitor-metrics';
import type { Prober } from '../../apps/health-monitor/src/health/prober';
import { quiet } from '../gateway/cache-fixtures';

/** The alerts raised here are not in an outbox (no alertId from a status update): nothing to delete. */
const outbox = { alertDone: () => Promise.resolve() } as unknown as ProviderHealthStore;

const failing: RecordedHealth = {
  previous: 'degraded',
  status: 'failing',
  consecutiveFailures: 3,
  lastError: 'x',
  recordedAt: new Date(),
};

/**
 * Alert deliveries and probes on one monitor (real Redis, the monitor's own queue, job dispatch and alerts; a
 * loopback webhook that never answers in time). Deliveries took the probes' concurrency slots: with as many alerts in
 * flight as HEALTH_CONCURRENCY, no probe ran until the webhook timed out (10 s a try, 8 tries), so a slow alert
 * receiver stopped the monitor from probing at all while providers were failing.
 */
describe('health monitor: a slow alert webhook does not hold up probes', () => {
  const prefix = uniqueId('alertslots');
  const keys = new RedisKeys(prefix);
  const errors = new RedisErrors(quiet);
  const env = {
    REDIS_URL: TEST_REDIS_URL,
    REDIS_PREFIX: prefix,
    HEALTH_CONCURRENCY: 2,
    HEALTH_INTERVAL_S: 300,
    PROBE_TIMEOUT_MS: 10_000,
    HEALTH_FAILURE_THRESHOLD: 3,
    HEALTH_SLOW_MS: 5000,
    HEALTH_WINDOW: 10,
    ALERT_CONCURRENCY: 2,
    ALERT_WEBHOOK_TIMEOUT_MS: 2000,
  } as MonitorEnv;
  const hanging: ServerResponse[] = [];
  let received = 0;
  const server = createServer((req, res) => {
    req.resume();
    received++;
    // Never answers: the delivery waits for its timeout.
    hanging.push(res);
  });
  let redis: Redis;
  let queue: HealthQueue;
  const probedAt: number[] = [];
  let began = 0;

  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    env.ALERT_WEBHOOK_URL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`;
    redis = createRedis(TEST_REDIS_URL, `${prefix}:test`, errors);
    queue = new HealthQueue(env, keys, errors);
    const metrics = new MonitorMetrics(new Registry(), {} as ProviderHealthStore, {} as CatalogService);
    const alerts = new Alerts(env, queue, metrics, redis, keys, outbox);
    const provider = { id: 'p1', enabled: true, routing: 'direct', models: [] } as unknown as ProviderSpec;
    const catalog = { current: { gateways: [] }, provider: () => provider } as unknown as CatalogService;
    const prober = {
      probeProvider: () => {
        probedAt.push(Date.now());
        return Promise.resolve([]);
      },
    } as unknown as Prober;
    const jobs = new HealthJobs(
      env,
      catalog,
      { recordTimedProbe: () => Promise.resolve(null) } as unknown as ProviderHealthStore,
      {} as UsageRetentionStore,
      prober,
      alerts,
      metrics,
      redis,
      keys,
      errors,
    );
    began = Date.now();
    queue.start(jobs.process);
    // More alerts in flight than the monitor has probe slots, each of another subject (none waits for another).
    for (let i = 0; i < 4; i++) {
      await alerts.onRecorded({ kind: 'provider', id: `down-${i}` }, failing, new Date());
    }
    await waitFor(() => received >= 2, { timeoutMs: 10_000 });
  });

  afterAll(async () => {
    for (const res of hanging) {
      res.destroy();
    }
    await queue?.onApplicationShutdown();
    if (redis !== undefined) {
      const stale = await redis.keys(`*${prefix}*`);
      if (stale.length > 0) {
        await redis.del(...stale);
      }
      redis.disconnect();
    }
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('runs a due probe at once while every delivery waits on the webhook', async () => {
    const added = Date.now();
    await queue.queue.add(HealthJobName.ProbeProvider, { id: 'p1' });
    await waitFor(() => probedAt.length === 1, { timeoutMs: 8000 });
    expect(probedAt[0] - added).toBeLessThan(1000);
  });

  it('gives up a delivery after ALERT_WEBHOOK_TIMEOUT_MS and tries it again', async () => {
    // Two slots of 2 s: the four alerts have each been tried within about two timeouts (10 s each before).
    await waitFor(() => received >= 4, { timeoutMs: Math.max(0, began + 7000 - Date.now()) });
  });
});
