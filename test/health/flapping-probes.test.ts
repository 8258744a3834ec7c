import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseCatalog, type Catalog } from '@aigw/core';
import {
  CatalogStore,
  ProviderHealthStore,
  runMigrationsLocked,
  SecretBox,
  type UsageRetentionStore,
} from '@aigw/entities';
import { createRedis, RedisErrors, RedisKeys, type CatalogService } from '@aigw/platform';
import { TEST_REDIS_URL, uniqueId } from '@aigw/testing';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import type { DataSource } from 'typeorm';
import type { MonitorEnv } from '../../apps/health-monitor/src/config/monitor-env';
import { Alerts } from '../../apps/health-monitor/src/health/alerts';
import { HealthJobs } from '../../apps/health-monitor/src/health/health-jobs';
import { HealthQueue } from '../../apps/health-monitor/src/health/health-queue';
import { MonitorMetrics } from '../../apps/health-monitor/src/health/monitor-metrics';
import { Prober } from '../../apps/health-monitor/src/health/prober';
import { quiet } from '../gateway/cache-fixtures';
import { dropSchema, openDataSource, uniqueSchema } from '../entities/pg';

/** A loopback OpenAI-style origin: `GET /v1/models` answers 200 or 503 as `up` says, after `delayMs`. */
async function origin(): Promise<{
  url: string;
  up: boolean;
  delayMs: number;
  hits: number;
  close(): Promise<void>;
}> {
  const state = {
    url: '',
    up: true,
    delayMs: 0,
    hits: 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server: Server = createServer((req, res) => {
    state.hits++;
    const up = state.up;
    setTimeout(() => {
      if (up) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ object: 'list', data: [{ id: 'm1', object: 'model' }] }));
      } else {
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: 'overloaded' } }));
      }
    }, state.delayMs);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  return state;
}

/**
 * Scheduled probes as a monitor runs them (real Prober over loopback HTTP, real PostgreSQL, real Redis): a provider
 * that flaps between failing and working probes does not flip its status (and alerts) at every probe, and two runs
 * of one provider's probe at once (a stalled job run again, a probe-now beside the scheduled one, two replicas)
 * probe it once, not twice, counting one failure rather than two.
 */
describe('health monitor: flapping providers and overlapping probe cycles', () => {
  const schema = uniqueSchema('flap');
  const prefix = uniqueId('flap');
  const keys = new RedisKeys(prefix);
  const errors = new RedisErrors(quiet);
  let ds: DataSource;
  let redis: Redis;
  let store: ProviderHealthStore;
  let flappy: Awaited<ReturnType<typeof origin>>;
  let slow: Awaited<ReturnType<typeof origin>>;
  let catalog: Catalog;
  const queues: HealthQueue[] = [];
  const probers: Prober[] = [];

  const env = {
    REDIS_URL: TEST_REDIS_URL,
    REDIS_PREFIX: prefix,
    HEALTH_CONCURRENCY: 2,
    ALERT_CONCURRENCY: 2,
    ALERT_WEBHOOK_TIMEOUT_MS: 5000,
    HEALTH_FAILURE_THRESHOLD: 2,
    HEALTH_RECOVERY_THRESHOLD: 3,
    HEALTH_SLOW_MS: 5000,
    HEALTH_WINDOW: 5,
    HEALTH_INTERVAL_S: 300,
    PROBE_TIMEOUT_MS: 5000,
    PROVIDER_ALLOW_LINK_LOCAL: false,
  } as MonitorEnv;

  /** A monitor replica: its own prober (pools), alerts and metrics, sharing PostgreSQL and Redis. */
  function replica(): { jobs: HealthJobs; metrics: Registry } {
    const catalogService = {
      current: catalog,
      provider: (id: string) => catalog.providers.find((p) => p.id === id),
      checkBeforeSeed: () => undefined,
      onReload: () => undefined,
    } as unknown as CatalogService;
    const registry = new Registry();
    const metrics = new MonitorMetrics(registry, store, catalogService);
    const queue = new HealthQueue(env, keys, errors);
    queues.push(queue);
    const prober = new Prober(env, catalogService);
    probers.push(prober);
    const alerts = new Alerts(env, queue, metrics, redis, keys, store);
    const jobs = new HealthJobs(
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
    return { jobs, metrics: registry };
  }

  beforeAll(async () => {
    flappy = await origin();
    slow = await origin();
    ds = await openDataSource(schema);
    await runMigrationsLocked(ds, () => undefined);
    catalog = parseCatalog(
      `providers:
  - id: flappy
    kind: openai
    baseUrl: ${flappy.url}
    apiKey: sk-flappy
    timeoutMs: 2000
    models:
      - { name: m1, promptPer1k: 0, completionPer1k: 0, contextWindow: 1000 }
  - id: slow
    kind: openai
    baseUrl: ${slow.url}
    apiKey: sk-slow
    timeoutMs: 2000
    models:
      - { name: m1, promptPer1k: 0, completionPer1k: 0, contextWindow: 1000 }
`,
      {},
    );
    await new CatalogStore(ds, SecretBox.fromEnv(undefined, 'test').box).seed(catalog);
    store = new ProviderHealthStore(ds);
    redis = createRedis(TEST_REDIS_URL, `${prefix}:test`, errors);
  });

  afterAll(async () => {
    for (const q of queues) {
      await q.onApplicationShutdown();
    }
    for (const p of probers) {
      await p.onApplicationShutdown();
    }
    if (redis !== undefined) {
      const stale = await redis.keys(`*${prefix}*`);
      if (stale.length > 0) {
        await redis.del(...stale);
      }
      redis.disconnect();
    }
    await ds?.destroy();
    await dropSchema(schema);
    await flappy?.close();
    await slow?.close();
  });

  const statusOf = async (id: string): Promise<{ health_status: string; consecutive_failures: number }> =>
    (
      await ds.query<{ health_status: string; consecutive_failures: number }[]>(
        `SELECT health_status, consecutive_failures FROM "${schema}".providers WHERE id = $1`,
        [id],
      )
    )[0];

  const alertsOf = async (registry: Registry, id: string): Promise<string[]> => {
    const metric = await registry.getSingleMetric('aigw_provider_alerts_total')?.get();
    return (metric?.values ?? [])
      .filter((v) => v.labels.provider === id)
      .flatMap((v) => Array.from({ length: v.value }, () => String(v.labels.kind)));
  };

  it('keeps a flapping provider failing until HEALTH_RECOVERY_THRESHOLD working probes in a row', async () => {
    const { jobs, metrics } = replica();
    const seen: string[] = [];
    const probe = async (up: boolean) => {
      flappy.up = up;
      await jobs.probeProvider('flappy');
      seen.push((await statusOf('flappy')).health_status);
    };
    // Two failures: failing. Then it flaps: pass, fail, pass, fail ... never three passes in a row.
    for (const up of [false, false, true, false, true, false, true, true, false]) {
      await probe(up);
    }
    expect(seen).toEqual([
      'degraded',
      'failing',
      'failing',
      'failing',
      'failing',
      'failing',
      'failing',
      'failing',
      'failing',
    ]);
    // Three working probes in a row: it recovers (degraded while the failures are in the window), once.
    for (const up of [true, true, true]) {
      await probe(up);
    }
    expect(seen.slice(-3)).toEqual(['failing', 'failing', 'degraded']);
    expect(await alertsOf(metrics, 'flappy')).toEqual(['failing', 'recovered']);
  });

  it('runs one probe cycle of a provider at a time across replicas: one request, one failure counted', async () => {
    const a = replica();
    const b = replica();
    slow.up = false;
    slow.delayMs = 400;
    slow.hits = 0;
    // The same provider's probe taken by two replicas at once (a stalled job run again, a probe-now beside the
    // scheduled one): HEALTH_FAILURE_THRESHOLD is 2, so counting both would make it failing after one interval.
    await Promise.all([a.jobs.probeProvider('slow'), b.jobs.probeProvider('slow')]);
    expect(slow.hits).toBe(1);
    expect(await statusOf('slow')).toEqual({ health_status: 'degraded', consecutive_failures: 1 });
    // The next cycle runs (the first released its hold): the second failure makes it failing.
    await a.jobs.probeProvider('slow');
    expect(slow.hits).toBe(2);
    expect(await statusOf('slow')).toEqual({ health_status: 'failing', consecutive_failures: 2 });
  });
});
