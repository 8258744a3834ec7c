import { HealthJobName, parseCatalog, QueueName, type Catalog } from '@aigw/core';
import { Logger } from '@nestjs/common';
import { bullOptions, type CatalogService, RedisErrors, RedisKeys } from '@aigw/platform';
import { TEST_REDIS_URL, uniqueId } from '@aigw/testing';
import { Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import type { MonitorEnv } from '../../apps/health-monitor/src/config/monitor-env';
import type { HealthJobs } from '../../apps/health-monitor/src/health/health-jobs';
import { HealthQueue } from '../../apps/health-monitor/src/health/health-queue';
import { HealthScheduler } from '../../apps/health-monitor/src/health/health-scheduler';
import { quiet } from '../gateway/cache-fixtures';

function catalogOf(baseUrl: string, apiKey = 'sk-one'): Catalog {
  return parseCatalog(
    `providers:
  - id: p1
    kind: openai
    baseUrl: ${baseUrl}
    apiKey: ${apiKey}
    healthIntervalS: 300
    models:
      - { name: m1, promptPer1k: 0, completionPer1k: 0, contextWindow: 1000 }
  - id: p2
    kind: openai
    baseUrl: http://127.0.0.1:9/v1
    healthIntervalS: 300
    models:
      - { name: m2, promptPer1k: 0, completionPer1k: 0, contextWindow: 1000 }
`,
    {},
  );
}

/**
 * The schedules follow the catalog (real Redis, no consumer: the jobs stay queued for the test to count). A change
 * of what a provider's probe uses (base URL, key) probes it at once, once across replicas, instead of leaving a
 * fixed provider `failing` until its next interval (HEALTH_INTERVAL_S, 300 s by default).
 */
describe('HealthScheduler: a changed provider is probed at once', () => {
  const prefix = uniqueId('sched');
  const keys = new RedisKeys(prefix);
  const errors = new RedisErrors(quiet);
  const env = {
    REDIS_URL: TEST_REDIS_URL,
    REDIS_PREFIX: prefix,
    HEALTH_PROBES_ENABLED: true,
    HEALTH_INTERVAL_S: 300,
    HEALTH_DISCOVERY_INTERVAL_S: 3600,
    HEALTH_CONCURRENCY: 1,
  } as MonitorEnv;
  const catalog = { current: catalogOf('http://127.0.0.1:1/v1'), onReload: () => undefined };
  let queue: HealthQueue;
  let replicas: HealthScheduler[];

  beforeAll(() => {
    queue = new HealthQueue(env, keys, errors);
    // Two replicas of the scheduler on one queue; neither takes jobs (HealthJobs is never called).
    replicas = [0, 1].map(
      () => new HealthScheduler(env, catalog as unknown as CatalogService, queue, {} as HealthJobs),
    );
  });

  afterAll(async () => {
    await queue?.queue.obliterate({ force: true });
    await queue?.onApplicationShutdown();
    const redis = new Redis(TEST_REDIS_URL);
    const stale = await redis.keys(`*${prefix}*`);
    if (stale.length > 0) {
      await redis.del(...stale);
    }
    redis.disconnect();
  });

  /** Completes every job waiting now, as a replica taking them would. */
  async function finishWaiting(): Promise<void> {
    const connection = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    const worker = new Worker(QueueName.Health, null, { ...bullOptions(connection, keys), autorun: false });
    try {
      for (;;) {
        const job: Job | undefined = await worker.getNextJob('test-token', { block: false });
        if (job === undefined) {
          return;
        }
        await job.moveToCompleted(null, 'test-token', false);
      }
    } finally {
      await worker.close();
      connection.disconnect();
    }
  }

  /** Probe jobs of a provider that run now (waiting), not the schedules' next ones (delayed). */
  const probesNow = async (id: string): Promise<number> =>
    (await queue.queue.getJobs(['waiting', 'prioritized'])).filter(
      (j) => j.name === HealthJobName.ProbeProvider && (j.data as { id: string }).id === id,
    ).length;

  it('adds one immediate probe per change of the probe settings, whatever the number of replicas', async () => {
    for (const r of replicas) {
      await r.reconcile();
    }
    // The schedules' first probes run at once.
    expect(await probesNow('p1')).toBe(1);
    expect(await probesNow('p2')).toBe(1);

    catalog.current = catalogOf('http://127.0.0.1:2/v1');
    for (const r of replicas) {
      await r.reconcile();
    }
    expect(await probesNow('p1')).toBe(2);
    expect(await probesNow('p2')).toBe(1);

    // Nothing changed: nothing added.
    for (const r of replicas) {
      await r.reconcile();
    }
    expect(await probesNow('p1')).toBe(2);

    // A new key is a change too.
    catalog.current = catalogOf('http://127.0.0.1:2/v1', 'sk-two');
    await replicas[0].reconcile();
    expect(await probesNow('p1')).toBe(3);
    const schedulers = await queue.queue.getJobSchedulers(0, -1);
    expect(schedulers.map((s) => s.key).sort()).toEqual([
      'discover:provider:p1',
      'discover:provider:p2',
      'probe:provider:p1',
      'probe:provider:p2',
      'prune-health-history',
      'prune-usage',
      'relay-alerts',
    ]);
  });

  it('probes at once a provider whose settings changed while no replica ran (a restart with a new catalog)', async () => {
    // Every replica restarted meanwhile (a rollout that seeds a fixed base URL): none remembers the settings it saw.
    catalog.current = catalogOf('http://127.0.0.1:2/v1', 'sk-three');
    for (const r of replicas) {
      await r.reconcile();
    }
    const before = await probesNow('p1');
    const restarted = new HealthScheduler(env, catalog as unknown as CatalogService, queue, {} as HealthJobs);
    catalog.current = catalogOf('http://127.0.0.1:3/v1', 'sk-three');
    await restarted.reconcile();
    expect(await probesNow('p1')).toBe(before + 1);
    expect(await probesNow('p2')).toBe(1);
    // The replicas that ran on see the same change: still one probe for it.
    for (const r of replicas) {
      await r.reconcile();
    }
    expect(await probesNow('p1')).toBe(before + 1);
  });

  it('probes at once a change undone within minutes (a key rotated, then rotated back)', async () => {
    catalog.current = catalogOf('http://127.0.0.1:4/v1', 'sk-good');
    for (const r of replicas) {
      await r.reconcile();
    }
    const before = await probesNow('p1');
    catalog.current = catalogOf('http://127.0.0.1:4/v1', 'sk-bad');
    for (const r of replicas) {
      await r.reconcile();
    }
    expect(await probesNow('p1')).toBe(before + 1);
    // Its probe has run (done, and kept a while under its id) before the change is undone.
    await finishWaiting();
    expect(await probesNow('p1')).toBe(0);
    catalog.current = catalogOf('http://127.0.0.1:4/v1', 'sk-good');
    for (const r of replicas) {
      await r.reconcile();
    }
    expect(await probesNow('p1')).toBe(1);
  });

  it("refreshes at once the model list of a provider whose probe settings changed (a fixed base URL's models)", async () => {
    const discoveries = async (): Promise<number> =>
      (await queue.queue.getJobs(['waiting', 'prioritized'])).filter(
        (j) => j.name === HealthJobName.DiscoverModels && (j.data as { id: string }).id === 'p1',
      ).length;
    const before = await discoveries();
    catalog.current = catalogOf('http://127.0.0.1:5/v1', 'sk-good');
    for (const r of replicas) {
      await r.reconcile();
    }
    expect(await discoveries()).toBe(before + 1);
  });

  it("puts back a schedule a replica of the previous release removed, at this release's next reconcile", async () => {
    // During a rolling upgrade a replica that does not know `relay-alerts` removes it at each of its reconciles
    // (every catalog reload); a replica of this release adds it again at its own next one (CATALOG_RELOAD_S, 30 s).
    await queue.queue.removeJobScheduler('relay-alerts');
    expect((await queue.queue.getJobSchedulers(0, -1)).map((s) => s.key)).not.toContain('relay-alerts');
    await replicas[1].reconcile();
    const relay = (await queue.queue.getJobSchedulers(0, -1)).find((s) => s.key === 'relay-alerts');
    expect(relay).toMatchObject({ name: HealthJobName.RelayAlerts, every: 60_000 });
  });
});

/**
 * Replicas whose clocks disagree (real Redis): BullMQ dates a scheduler's next job by the clock of the replica that
 * ran the last one, so the schedules follow the clock furthest ahead and, once that replica stops, the others run no
 * scheduled probe until their clocks catch up. Nothing in the monitor can re-date BullMQ's jobs cheaply; a replica
 * whose clock is off says so as it starts.
 */
describe('HealthScheduler: a replica whose clock is off', () => {
  const prefix = uniqueId('schedskew');
  const keys = new RedisKeys(prefix);
  const errors = new RedisErrors(quiet);
  const env = {
    REDIS_URL: TEST_REDIS_URL,
    REDIS_PREFIX: prefix,
    HEALTH_PROBES_ENABLED: true,
    HEALTH_INTERVAL_S: 300,
    HEALTH_DISCOVERY_INTERVAL_S: 3600,
    HEALTH_CONCURRENCY: 1,
    ALERT_CONCURRENCY: 1,
  } as MonitorEnv;
  const catalog = { current: catalogOf('http://127.0.0.1:1/v1'), onReload: () => undefined };
  const queues: HealthQueue[] = [];

  afterEach(() => jest.restoreAllMocks());

  afterAll(async () => {
    for (const q of queues) {
      await q.queue.obliterate({ force: true });
      await q.onApplicationShutdown();
    }
    const redis = new Redis(TEST_REDIS_URL);
    const stale = await redis.keys(`*${prefix}*`);
    if (stale.length > 0) {
      await redis.del(...stale);
    }
    redis.disconnect();
  });

  async function start(aheadMs: number): Promise<string[]> {
    const warned: string[] = [];
    jest.spyOn(Logger.prototype, 'warn').mockImplementation((message: unknown) => void warned.push(String(message)));
    const now = Date.now.bind(Date);
    jest.spyOn(Date, 'now').mockImplementation(() => now() + aheadMs);
    const queue = new HealthQueue(env, keys, errors);
    queues.push(queue);
    const jobs = { process: () => Promise.resolve() } as unknown as HealthJobs;
    await new HealthScheduler(env, catalog as unknown as CatalogService, queue, jobs).start();
    jest.restoreAllMocks();
    return warned.filter((m) => m.includes('clock'));
  }

  it('warns at start when it is an hour ahead of Redis, and not when it agrees', async () => {
    const ahead = await start(3_600_000);
    expect(ahead).toHaveLength(1);
    expect(ahead[0]).toMatch(/clock is 3\d{6} ms ahead of Redis's.*NTP/);
    expect(await start(0)).toEqual([]);
  });
});
