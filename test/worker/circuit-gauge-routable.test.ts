import type { Catalog } from '@aigw/core';
import { CatalogService, MigratedDatabase, RedisErrors, RedisKeys } from '@aigw/platform';
import { Registry } from 'prom-client';
import type { DataSource } from 'typeorm';
import type { WorkerEnv } from '../../apps/router-worker/src/config/worker-env';
import { CircuitStateGauge } from '../../apps/router-worker/src/metrics/circuit-state.gauge';
import { WorkerMetrics } from '../../apps/router-worker/src/metrics/worker-metrics';
import { CircuitGuard } from '../../apps/router-worker/src/routing/circuit-guard';
import type { RoutingConfig } from '../../apps/router-worker/src/routing/routing-config';
import { connect, deleteKeys, uniquePrefix } from '../routing/redis';

const config = {
  latencyAlpha: 0.5,
  circuit: {
    failureThreshold: 2,
    failureRate: 0.5,
    windowMs: 60_000,
    minVolume: 1000,
    openMs: 60_000,
    halfOpenMaxProbes: 1,
    probeTtlMs: 120_000,
  },
} as RoutingConfig;

const model = { promptPer1k: 0, completionPer1k: 0, contextWindow: 8192, capabilities: [], enabled: true } as const;
const provider = (id: string, enabled: boolean): Catalog['providers'][number] => ({
  id,
  kind: 'openai',
  baseUrl: 'http://127.0.0.1:9/v1',
  enabled,
  timeoutMs: 1000,
  maxConnections: 1,
  routing: 'direct',
  models: [{ ...model, capabilities: ['chat'], name: 'm' }],
});

/**
 * `aigw_circuit_state` and `aigw_circuit_cooldown_seconds` cover the deployments the catalog routes to: a provider
 * disabled with its circuit open (often why it was disabled) is called by no worker, so its circuit never moves again
 * and kept reporting for the day its Redis key lives (open, then half-open once CB_OPEN_MS passed), firing whatever
 * alert watches the state.
 */
describe('circuit gauges: only deployments the catalog routes to (real Redis)', () => {
  const redis = connect();
  const namespace = uniquePrefix().slice(0, -1);

  afterAll(async () => {
    await deleteKeys(redis, namespace);
    await redis.quit();
  });

  it('drops a deployment whose provider is disabled, and reports it again once re-enabled', async () => {
    const errors = new RedisErrors({ warn: () => undefined, log: () => undefined }, { inc: () => undefined });
    const circuits = new CircuitGuard(
      redis,
      new RedisKeys(namespace),
      config,
      new WorkerMetrics(new Registry()),
      errors,
    );
    const catalog = new CatalogService({ NODE_ENV: 'test' } as WorkerEnv, new MigratedDatabase({} as DataSource));
    const registry = new Registry();
    new CircuitStateGauge(registry, catalog, circuits);
    const series = async () =>
      (await registry.metrics()).split('\n').filter((l) => l.startsWith('aigw_circuit_state{'));

    catalog.apply({ gateways: [], providers: [provider('up', true), provider('down', true)] });
    for (let i = 0; i < config.circuit.failureThreshold; i++) {
      await circuits.settle('down/m', null, 'failure');
    }
    expect(await series()).toEqual([
      'aigw_circuit_state{deployment="up/m"} 0',
      'aigw_circuit_state{deployment="down/m"} 2',
    ]);

    catalog.apply({ gateways: [], providers: [provider('up', true), provider('down', false)] });
    expect(await series()).toEqual(['aigw_circuit_state{deployment="up/m"} 0']);
    expect(await registry.metrics()).not.toContain('deployment="down/m"');

    catalog.apply({ gateways: [], providers: [provider('up', true), provider('down', true)] });
    expect(await series()).toEqual([
      'aigw_circuit_state{deployment="up/m"} 0',
      'aigw_circuit_state{deployment="down/m"} 2',
    ]);
  });

  it("counts a cooldown down on the Redis clock that wrote it, whatever this worker's clock says", async () => {
    const realNow = Date.now.bind(Date);
    // Five minutes behind Redis.
    jest.spyOn(Date, 'now').mockImplementation(() => realNow() - 300_000);
    try {
      const errors = new RedisErrors({ warn: () => undefined, log: () => undefined }, { inc: () => undefined });
      const circuits = new CircuitGuard(
        redis,
        new RedisKeys(namespace),
        config,
        new WorkerMetrics(new Registry()),
        errors,
      );
      const catalog = new CatalogService({ NODE_ENV: 'test' } as WorkerEnv, new MigratedDatabase({} as DataSource));
      const registry = new Registry();
      new CircuitStateGauge(registry, catalog, circuits);
      catalog.apply({ gateways: [], providers: [provider('busy', true)] });
      await circuits.settle('busy/m', null, 'cooldown', { ms: 10_000, status: 429 });
      const line = (await registry.metrics()).split('\n').find((l) => l.startsWith('aigw_circuit_cooldown_seconds{'));
      const seconds = Number(line?.split(' ')[1]);
      expect(seconds).toBeGreaterThan(9);
      expect(seconds).toBeLessThanOrEqual(10);
    } finally {
      jest.restoreAllMocks();
    }
  });
});
