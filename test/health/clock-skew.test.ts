import { alertKindOf, parseCatalog, type Catalog } from '@aigw/core';
import {
  CatalogStore,
  ProviderHealthStore,
  runMigrationsLocked,
  SecretBox,
  type HealthSubject,
  type RecordedHealth,
  type UsageRetentionStore,
} from '@aigw/entities';
import { RedisKeys, type CatalogService, type RedisErrors } from '@aigw/platform';
import type { Redis } from 'ioredis';
import type { DataSource } from 'typeorm';
import type { MonitorEnv } from '../../apps/health-monitor/src/config/monitor-env';
import type { Alerts } from '../../apps/health-monitor/src/health/alerts';
import { HealthJobs } from '../../apps/health-monitor/src/health/health-jobs';
import type { MonitorMetrics } from '../../apps/health-monitor/src/health/monitor-metrics';
import type { Prober } from '../../apps/health-monitor/src/health/prober';
import { dropSchema, openDataSource, uniqueSchema } from '../entities/pg';
import { probed } from './alert-world';

const YAML = `
providers:
  - id: p1
    kind: openai
    baseUrl: http://127.0.0.1:1/v1
    healthIntervalS: 30
    models:
      - { name: m1, promptPer1k: 0, completionPer1k: 0, contextWindow: 1000 }
`;

const HOUR_MS = 3_600_000;

/**
 * Two monitor replicas whose clocks disagree (real PostgreSQL; the probes and alerts are stubs, the recording is
 * the monitor's own). A replica whose clock ran an hour ahead recorded a provider `failing`; the replica with the
 * right clock then probes it working. Dated by each replica's own clock, every probe of the second looked older than
 * the last recorded, so its recovery was ignored: the provider stayed `failing` (routed last, listed unavailable, no
 * recovery alert) with a `lastCheckAt` an hour in the future, for as long as the skew.
 */
describe('health monitor: replicas whose clocks disagree', () => {
  const schema = uniqueSchema('skew');
  let ds: DataSource;
  let store: ProviderHealthStore;
  let catalog: Catalog;
  const alerts: { health: RecordedHealth; at: Date }[] = [];

  beforeAll(async () => {
    ds = await openDataSource(schema);
    await runMigrationsLocked(ds, () => undefined);
    catalog = parseCatalog(YAML, {});
    await new CatalogStore(ds, SecretBox.fromEnv(undefined, 'test').box).seed(catalog);
    store = new ProviderHealthStore(ds);
  });

  afterAll(async () => {
    jest.useRealTimers();
    await ds.destroy();
    await dropSchema(schema);
  });

  /** One monitor replica whose probes of every route answer `ok()`. */
  function replica(ok: () => boolean, lists: string[] = []): HealthJobs {
    const env = {
      HEALTH_FAILURE_THRESHOLD: 3,
      HEALTH_SLOW_MS: 1000,
      HEALTH_WINDOW: 5,
      HEALTH_INTERVAL_S: 300,
      PROBE_TIMEOUT_MS: 10_000,
    } as MonitorEnv;
    const catalogService = {
      current: catalog,
      provider: (id: string) => catalog.providers.find((p) => p.id === id),
    } as unknown as CatalogService;
    const prober = {
      probeProvider: () => Promise.resolve(probed(ok())),
      listModels: () => Promise.resolve(lists),
    } as unknown as Prober;
    const alerter = {
      onRecorded: (_subject: HealthSubject, health: RecordedHealth, at: Date) => {
        // What Alerts.onRecorded alerts on: a turn to `failing`, and a recovery.
        if (alertKindOf(health.previous, health.status) !== null) {
          alerts.push({ health, at });
        }
        return Promise.resolve();
      },
    } as unknown as Alerts;
    const metrics = { probed: () => undefined } as unknown as MonitorMetrics;
    // Route memory and usage retention are not reached: the provider is routed direct, and no prune job runs here.
    return new HealthJobs(
      env,
      catalogService,
      store,
      {} as UsageRetentionStore,
      prober,
      alerter,
      metrics,
      // No Redis here: the probe cycle lock cannot be taken, so each probe runs unheld (reported, not thrown).
      {} as Redis,
      new RedisKeys(schema),
      { report: () => undefined } as unknown as RedisErrors,
    );
  }

  /** Runs `fn` as a replica whose clock is an hour ahead: only Date is faked, timers and the monotonic clock run. */
  async function anHourAhead(fn: () => Promise<void>): Promise<void> {
    jest.useFakeTimers({
      now: Date.now() + HOUR_MS,
      advanceTimers: true,
      doNotFake: [
        'hrtime',
        'nextTick',
        'performance',
        'queueMicrotask',
        'setImmediate',
        'clearImmediate',
        'setInterval',
        'clearInterval',
        'setTimeout',
        'clearTimeout',
      ],
    });
    try {
      await fn();
    } finally {
      jest.useRealTimers();
    }
  }

  it('shows what the last model refresh listed, whichever replica made the one before', async () => {
    await anHourAhead(() => replica(() => true, ['m1', 'retired']).discoverModels('p1'));
    await replica(() => true, ['m1']).discoverModels('p1');
    const found = await store.discovered('p1');
    // Dated by each replica's clock, `retired` was "seen" an hour after the last refresh, so still listed as served.
    expect(found.models.map((m) => m.model)).toEqual(['m1']);
    expect(found.refreshedAt?.getTime()).toBeLessThan(Date.now() + 60_000);
  });

  it('takes the recovery a replica with the right clock probes after one an hour ahead marked it failing', async () => {
    const ahead = replica(() => false);
    const right = replica(() => true);

    await anHourAhead(async () => {
      for (let i = 0; i < 3; i++) {
        await ahead.probeProvider('p1');
      }
    });
    expect((await store.providerHealth()).get('p1')?.status).toBe('failing');

    await right.probeProvider('p1');
    const health = (await store.providerHealth()).get('p1');
    expect(health).toMatchObject({ status: 'degraded', consecutiveFailures: 0, lastError: null });
    // Dated by PostgreSQL's clock, which both replicas share: not an hour ahead.
    expect(health?.lastCheckAt?.getTime()).toBeLessThan(Date.now() + 60_000);
    expect(alerts.map((a) => [a.health.previous, a.health.status])).toEqual([
      ['degraded', 'failing'],
      ['failing', 'degraded'],
    ]);
    // The alerts are in the order of their transitions, whichever replica raised them.
    expect(alerts[1].at.getTime()).toBeGreaterThan(alerts[0].at.getTime());
  });
});
