import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HealthAlert } from '@aigw/core';
import type { ProviderHealthStore, RecordedHealth } from '@aigw/entities';
import { createRedis, RedisErrors, RedisKeys, type CatalogService } from '@aigw/platform';
import { freePort, TEST_REDIS_URL, uniqueId, waitFor } from '@aigw/testing';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import type { MonitorEnv } from '../../apps/health-monitor/src/config/monitor-env';
import { Alerts } from '../../apps/health-monitor/src/health/alerts';
import { HealthQueue } from '../../apps/health-monitor/src/health/health-queue';
import { MonitorMetrics } from '../../apps/health-monitor/src/health/monitor-metrics';
import { quiet } from '../gateway/cache-fixtures';

/** The alerts raised here are not in an outbox (no alertId from a status update): nothing to delete. */
const outbox = { alertDone: () => Promise.resolve() } as unknown as ProviderHealthStore;

interface Received {
  path: string;
  method: string;
  headers: IncomingHttpHeaders;
  /** Null for a request without a body (a POST turned into a GET by a followed redirect). */
  alert: HealthAlert | null;
  answered: number;
}

/** A loopback alert webhook whose answer the test sets: records every POST and what it answered. */
async function webhook(): Promise<{
  url: (path?: string) => string;
  status: number;
  received: Received[];
  close(): Promise<void>;
}> {
  const hook = {
    url: (path = '/alerts') => `http://127.0.0.1:${port}${path}`,
    status: 204,
    received: [] as Received[],
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      // `/moved...` answers as a receiver that moved: a redirect to the new place.
      const moved = req.url?.startsWith('/moved') === true;
      const answered = moved ? 302 : hook.status;
      hook.received.push({
        path: req.url ?? '',
        method: req.method ?? '',
        headers: req.headers,
        alert: raw === '' ? null : (JSON.parse(raw) as HealthAlert),
        answered,
      });
      res.writeHead(answered, moved ? { location: '/new-place' } : {}).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return hook;
}

const failing: RecordedHealth = {
  previous: 'degraded',
  status: 'failing',
  consecutiveFailures: 3,
  lastError: 'x',
  recordedAt: new Date(),
};
const recovered: RecordedHealth = {
  previous: 'failing',
  status: 'degraded',
  consecutiveFailures: 0,
  lastError: null,
  recordedAt: new Date(),
};

/**
 * Alert deliveries (BullMQ jobs on the health queue, real Redis, a loopback webhook): credentials in
 * ALERT_WEBHOOK_URL are sent as Basic auth and never logged, the URL is the one configured when the delivery runs,
 * and the alerts of one subject reach the webhook in the order of their transitions even when a delivery is retried.
 */
describe('health alerts: webhook deliveries', () => {
  const prefix = uniqueId('alerts');
  const keys = new RedisKeys(prefix);
  const errors = new RedisErrors(quiet);
  const env = {
    REDIS_URL: TEST_REDIS_URL,
    REDIS_PREFIX: prefix,
    HEALTH_CONCURRENCY: 4,
    ALERT_CONCURRENCY: 4,
    ALERT_WEBHOOK_TIMEOUT_MS: 10_000,
  } as MonitorEnv;
  let hook: Awaited<ReturnType<typeof webhook>>;
  let redis: Redis;
  let queue: HealthQueue;
  let alerts: Alerts;

  beforeAll(async () => {
    hook = await webhook();
    redis = createRedis(TEST_REDIS_URL, `${prefix}:test`, errors);
    queue = new HealthQueue(env, keys, errors);
    // The gauge reads the store only on a scrape, which this suite never does.
    const metrics = new MonitorMetrics(new Registry(), {} as ProviderHealthStore, {} as CatalogService);
    alerts = new Alerts(env, queue, metrics, redis, keys, outbox);
    queue.start((job, token) => alerts.deliver(job, token));
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
    await hook?.close();
  });

  beforeEach(() => {
    hook.received.length = 0;
    hook.status = 204;
  });

  it('sends the credentials of the URL as Basic auth, and never puts them in an error or the job', async () => {
    env.ALERT_WEBHOOK_URL = hook.url('/alerts').replace('http://', 'http://ops:s3cret-pw@');
    await alerts.onRecorded({ kind: 'provider', id: 'creds' }, failing, new Date());
    await waitFor(() => hook.received.length === 1, { timeoutMs: 10_000 });
    const [got] = hook.received;
    expect(got.path).toBe('/alerts');
    expect(got.headers.authorization).toBe(`Basic ${Buffer.from('ops:s3cret-pw').toString('base64')}`);
    expect(got.alert).toMatchObject({ kind: 'failing', subject: 'provider', id: 'creds' });

    // Unreachable with credentials: the failure says so without the URL's password (or the URL at all).
    env.ALERT_WEBHOOK_URL = `http://ops:s3cret-pw@127.0.0.1:${await freePort()}/alerts`;
    await alerts.onRecorded({ kind: 'provider', id: 'creds-down' }, failing, new Date());
    const reasons = async () =>
      (await queue.alerts.getJobs(['delayed', 'failed', 'wait', 'active'])).filter(
        (j) => j.data !== undefined && 'alert' in j.data && j.data.alert.id === 'creds-down',
      );
    await waitFor(async () => (await reasons()).some((j) => j.failedReason !== undefined && j.failedReason !== ''), {
      timeoutMs: 10_000,
    });
    for (const job of await reasons()) {
      expect(job.failedReason).toMatch(/alert webhook unreachable/);
      expect(`${job.failedReason} ${JSON.stringify(job.data)}`).not.toContain('s3cret-pw');
      await job.remove();
    }
  });

  it('delivers to the URL configured when the delivery runs, not the one of its first attempt', async () => {
    env.ALERT_WEBHOOK_URL = hook.url('/old');
    hook.status = 500;
    await alerts.onRecorded({ kind: 'provider', id: 'moved' }, failing, new Date());
    await waitFor(() => hook.received.length === 1, { timeoutMs: 10_000 });
    env.ALERT_WEBHOOK_URL = hook.url('/new');
    hook.status = 204;
    await waitFor(() => hook.received.some((r) => r.answered === 204), { timeoutMs: 10_000 });
    expect(hook.received.map((r) => [r.path, r.answered])).toEqual([
      ['/old', 500],
      ['/new', 204],
    ]);
  });

  it('keeps the order of one subject: a recovery waits for the retried failing alert', async () => {
    env.ALERT_WEBHOOK_URL = hook.url('/alerts');
    hook.status = 503;
    const subject = { kind: 'provider', id: 'flappy' } as const;
    await alerts.onRecorded(subject, failing, new Date(Date.now() - 1000));
    await waitFor(() => hook.received.length === 1, { timeoutMs: 10_000 });
    // The webhook is back just as the provider recovers; the failing alert is waiting for its retry.
    hook.status = 204;
    await alerts.onRecorded(subject, recovered, new Date());
    // Another subject is not held back by this one.
    await alerts.onRecorded({ kind: 'gateway', id: 'other' }, failing, new Date());
    await waitFor(() => hook.received.filter((r) => r.answered === 204).length === 3, { timeoutMs: 15_000 });
    const delivered = hook.received.filter((r) => r.answered === 204).map((r) => r.alert as HealthAlert);
    expect(delivered.filter((a) => a.id === 'flappy').map((a) => a.kind)).toEqual(['failing', 'recovered']);
    expect(delivered[0]).toMatchObject({ id: 'other', subject: 'gateway' });
  });

  it('does not take a redirect for a delivery: the alert would arrive as a GET without its body', async () => {
    env.ALERT_WEBHOOK_URL = hook.url('/moved');
    await alerts.onRecorded({ kind: 'provider', id: 'redirected' }, failing, new Date());
    const jobs = async () =>
      (await queue.alerts.getJobs(['delayed', 'failed', 'wait', 'active', 'completed'])).filter(
        (j) => j.data !== undefined && 'alert' in j.data && j.data.alert.id === 'redirected',
      );
    await waitFor(async () => (await jobs()).some((j) => j.failedReason !== undefined && j.failedReason !== ''), {
      timeoutMs: 10_000,
    });
    // Not delivered: retried (a failure saying so), never answered by the redirect's target with a bodiless GET.
    const [job] = await jobs();
    expect(job.failedReason).toMatch(/HTTP 302/);
    expect(hook.received.length).toBeGreaterThan(0);
    expect(hook.received.filter((r) => r.method !== 'POST' || r.path !== '/moved')).toEqual([]);
    for (const j of await jobs()) {
      await j.remove();
    }
  });
});
