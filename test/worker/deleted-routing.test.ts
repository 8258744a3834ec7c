import type { Catalog } from '@aigw/core';
import { MigratedDatabase, RedisErrors, RedisKeys, type CatalogService } from '@aigw/platform';
import { forgetDeletedRouting } from '@aigw/routing';
import { Registry } from 'prom-client';
import type { DataSource } from 'typeorm';
import { WorkerMetrics } from '../../apps/router-worker/src/metrics/worker-metrics';
import { CircuitGuard } from '../../apps/router-worker/src/routing/circuit-guard';
import { DeletedRouting } from '../../apps/router-worker/src/routing/deleted-routing';
import { HistoricalLatency } from '../../apps/router-worker/src/routing/historical-latency';
import { LatencyBook } from '../../apps/router-worker/src/routing/latency-book';
import { ProviderQuotaBook } from '../../apps/router-worker/src/routing/quota-book';
import type { RoutingConfig } from '../../apps/router-worker/src/routing/routing-config';
import { connect, deleteKeys, uniquePrefix } from '../routing/redis';

const config = {
  latencyAlpha: 0.5,
  circuit: {
    failureThreshold: 3,
    failureRate: 0.5,
    windowMs: 60_000,
    minVolume: 1000,
    openMs: 60_000,
    halfOpenMaxProbes: 1,
    probeTtlMs: 120_000,
  },
} as RoutingConfig;

const model = { promptPer1k: 0, completionPer1k: 0, contextWindow: 8192, capabilities: [], enabled: true } as const;
const provider = (id: string, models: string[]) => ({
  id,
  kind: 'openai' as const,
  baseUrl: 'http://127.0.0.1:9/v1',
  enabled: true,
  timeoutMs: 1000,
  maxConnections: 1,
  routing: 'direct' as const,
  models: models.map((name) => ({ ...model, capabilities: ['chat' as const], name })),
});

/**
 * A worker's catalog reloads after an admin deleted a provider or a model (the admin API has already deleted their
 * routing state in Redis): what the worker still holds of them in memory must not be written back, nor kept.
 */
describe('worker memory of deleted deployments (real Redis)', () => {
  const redis = connect();
  let namespace: string;

  beforeEach(() => {
    namespace = uniquePrefix().slice(0, -1);
  });
  afterEach(() => deleteKeys(redis, namespace));
  afterAll(() => redis.quit());

  it('drops pending successes, latency samples and rate limits of what the reloaded catalog lacks', async () => {
    const errors = new RedisErrors({ warn: () => undefined, log: () => undefined }, { inc: () => undefined });
    const keys = new RedisKeys(namespace);
    const circuits = new CircuitGuard(redis, keys, config, new WorkerMetrics(new Registry()), errors);
    const latency = new LatencyBook(
      redis,
      keys,
      config,
      new HistoricalLatency(new MigratedDatabase({} as DataSource)),
      errors,
    );
    const quotas = new ProviderQuotaBook(redis, keys, errors);
    const listeners: ((c: Catalog) => void | Promise<void>)[] = [];
    const catalog = { onReload: (l: (c: Catalog) => void) => listeners.push(l) } as unknown as CatalogService;
    new DeletedRouting(catalog, circuits, latency, quotas).onModuleInit();
    try {
      // Calls that ended just before the deletion, not written yet (successes and samples are written behind).
      for (const id of ['gone/m', 'kept/m', 'kept/dropped']) {
        await circuits.settle(id, null, 'success');
        latency.record(id, false, 100);
        latency.record(id, true, 10);
      }
      for (const id of ['gone', 'kept']) {
        quotas.observer(id, 'direct')(200, {
          'x-ratelimit-limit-requests': '100',
          'x-ratelimit-remaining-requests': '7',
        });
      }

      // The admin API deletes provider `gone` and model `kept/dropped` with their state in Redis (what was written of
      // them already), then this worker's catalog reloads on `provider.changed`.
      await forgetDeletedRouting(redis, namespace, {
        providerId: 'gone',
        deploymentIds: ['gone/m'],
        wholeProvider: true,
      });
      await forgetDeletedRouting(redis, namespace, {
        providerId: 'kept',
        deploymentIds: ['kept/dropped'],
        wholeProvider: false,
      });
      for (const l of listeners) {
        await l({ gateways: [], providers: [provider('kept', ['m'])] });
      }
      await Promise.all([circuits.flush(), latency.flush(), quotas.flush()]);

      const written = (await redis.keys(`${namespace}:*`)).sort();
      expect(written.filter((k) => k.includes('gone') || k.includes('dropped'))).toEqual([]);
      expect(written).toContain(`${namespace}:routing:cb:{kept/m}`);
      for (const key of [`${namespace}:routing:latency`, `${namespace}:routing:stream:latency`]) {
        expect(await redis.hkeys(key)).toEqual(['kept/m']);
      }
      expect(await redis.hkeys(`${namespace}:provider-quota`)).toEqual(['kept:direct']);
      expect([...quotas.snapshots()].map((s) => s.providerId)).toEqual(['kept']);
    } finally {
      circuits.onApplicationShutdown();
      latency.onApplicationShutdown();
      quotas.onApplicationShutdown();
    }
  });
});
