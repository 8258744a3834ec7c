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
import { RouteBook } from '../../apps/router-worker/src/routing/route-book';
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

  /** A worker's routing books on `namespace`, with the catalog reloads it listens to. */
  function worker() {
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
    const routes = new RouteBook(redis, keys, errors);
    const listeners: ((c: Catalog) => void | Promise<void>)[] = [];
    const catalog = { onReload: (l: (c: Catalog) => void) => listeners.push(l) } as unknown as CatalogService;
    new DeletedRouting(catalog, circuits, latency, quotas, routes, redis, keys, errors).onModuleInit();
    return {
      circuits,
      latency,
      quotas,
      routes,
      reload: async (providers: ReturnType<typeof provider>[]) => {
        for (const l of listeners) {
          await l({ gateways: [], providers });
        }
      },
      flush: () => Promise.all([circuits.flush(), latency.flush(), quotas.flush()]),
      stop: () => {
        circuits.onApplicationShutdown();
        latency.onApplicationShutdown();
        quotas.onApplicationShutdown();
      },
    };
  }

  const rateLimits = { 'x-ratelimit-limit-requests': '100', 'x-ratelimit-remaining-requests': '7' };

  it('drops pending successes, latency samples and rate limits of what the reloaded catalog lacks', async () => {
    const { circuits, latency, quotas, reload, flush, stop } = worker();
    try {
      await reload([provider('gone', ['m']), provider('kept', ['m', 'dropped'])]);
      // Calls that ended just before the deletion, not written yet (successes and samples are written behind).
      for (const id of ['gone/m', 'kept/m', 'kept/dropped']) {
        await circuits.settle(id, null, 'success');
        latency.record(id, false, 100);
        latency.record(id, true, 10);
      }
      for (const id of ['gone', 'kept']) {
        quotas.observer(id, 'direct')(200, rateLimits);
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
      await reload([provider('kept', ['m'])]);
      await flush();

      const written = (await redis.keys(`${namespace}:*`)).sort();
      expect(written.filter((k) => k.includes('gone') || k.includes('dropped'))).toEqual([]);
      expect(written).toContain(`${namespace}:routing:cb:{kept/m}`);
      for (const key of [`${namespace}:routing:latency`, `${namespace}:routing:stream:latency`]) {
        expect(await redis.hkeys(key)).toEqual(['kept/m']);
      }
      expect(await redis.hkeys(`${namespace}:provider-quota`)).toEqual(['kept:direct']);
      expect([...quotas.snapshots()].map((s) => s.providerId)).toEqual(['kept']);
    } finally {
      stop();
    }
  });

  it('a flush or a failure after the admin API deleted the state, before or after the reload, does not bring it back', async () => {
    const { circuits, latency, quotas, routes, reload, flush, stop } = worker();
    try {
      // The catalog this worker runs with: provider `gone`, and `kept` with a model an admin is about to delete.
      await reload([provider('gone', ['m']), provider('kept', ['m', 'dropped'])]);
      for (const id of ['gone/m', 'kept/m', 'kept/dropped']) {
        await circuits.settle(id, null, 'success');
        latency.record(id, false, 100);
      }

      // The admin API deletes them and their state in Redis; this worker has not reloaded yet.
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
      // Meanwhile its write-behind flushes run and calls to them fail (opening their circuits) or report limits.
      for (const id of ['gone/m', 'kept/dropped']) {
        for (let i = 0; i < config.circuit.failureThreshold; i++) {
          await circuits.settle(id, null, 'failure');
        }
        latency.record(id, true, 10);
      }
      quotas.observer('gone', 'direct')(200, rateLimits);
      routes.remember('gone', 'gateway');
      await flush();
      expect((await circuits.states(['gone/m'])).get('gone/m')?.state).toBe('open');

      // The reload drops them; calls to them still running end afterwards, and the flushes run again.
      await reload([provider('kept', ['m'])]);
      for (const id of ['gone/m', 'kept/dropped']) {
        expect(await circuits.settle(id, null, 'failure')).toBe(false);
        await circuits.settle(id, null, 'success');
        latency.record(id, false, 100);
      }
      quotas.observer('gone', 'gateway')(200, rateLimits);
      routes.remember('gone', 'gateway');
      await flush();

      const written = (await redis.keys(`${namespace}:*`)).sort();
      expect(written.filter((k) => k.includes('gone') || k.includes('dropped'))).toEqual([]);
      for (const key of [`${namespace}:routing:latency`, `${namespace}:routing:stream:latency`]) {
        expect(await redis.hkeys(key)).not.toContain('kept/dropped');
        expect(await redis.hkeys(key)).not.toContain('gone/m');
      }
      expect(await redis.hkeys(`${namespace}:routing:latency`)).toEqual(['kept/m']);
      expect(await redis.hkeys(`${namespace}:provider-quota`)).toEqual([]);
      expect(await redis.get(`${namespace}:routing:route:gone`)).toBeNull();
      expect(written).toContain(`${namespace}:routing:cb:{kept/m}`);
      // A provider re-created with the id starts closed, with no average.
      expect((await circuits.states(['gone/m'])).get('gone/m')?.state ?? 'closed').toBe('closed');
    } finally {
      stop();
    }
  });
});
