import type { ProviderAdapter } from '@aigw/adapters';
import { ErrorClass, type Deployment } from '@aigw/core';
import { RedisErrors, RedisKeys } from '@aigw/platform';
import { CircuitBreakerStore, routingKeyPrefix } from '@aigw/routing';
import { Registry } from 'prom-client';
import { deployment, generationRequest } from '../../apps/router-worker/src/generation/request.fixtures';
import { WorkerMetrics } from '../../apps/router-worker/src/metrics/worker-metrics';
import { CircuitGuard } from '../../apps/router-worker/src/routing/circuit-guard';
import { callProvider, type ProviderCallDeps } from '../../apps/router-worker/src/routing/provider-call';
import { routeOptions } from '../../apps/router-worker/src/routing/route-options';
import type { RoutingConfig } from '../../apps/router-worker/src/routing/routing-config';
import { connect, deleteKeys, sleep, uniquePrefix } from '../routing/redis';

const OPEN_MS = 50;

const config = {
  latencyAlpha: 0.5,
  circuit: {
    failureThreshold: 1,
    failureRate: 0.5,
    windowMs: 60_000,
    minVolume: 1000,
    openMs: OPEN_MS,
    halfOpenMaxProbes: 1,
    probeTtlMs: 120_000,
  },
} as RoutingConfig;

/**
 * A half-open circuit's probe whose call fails before anything is sent: the adapter cannot be had (a plugin that
 * does not load) or the quota observer throws. Both ran before callProvider's `try`, so the call threw out of it
 * without settling the permit: the probe slot stayed taken until it expired (CB_PROBE_TTL_MS, two minutes by
 * default), and with CB_HALF_OPEN_PROBES=1 every worker refused the deployment meanwhile. Real Redis, the worker's
 * own CircuitGuard.
 */
describe('a probe whose call fails before it is sent (real Redis)', () => {
  const redis = connect();
  let namespace: string;
  let guard: CircuitGuard;
  let d: Deployment;

  beforeEach(async () => {
    namespace = uniquePrefix().slice(0, -1);
    const errors = new RedisErrors({ warn: () => undefined, log: () => undefined }, { inc: () => undefined });
    guard = new CircuitGuard(redis, new RedisKeys(namespace), config, new WorkerMetrics(new Registry()), errors);
    d = deployment();
    // Open, then due for a probe.
    await guard.settle(d.id, null, 'failure');
    await sleep(OPEN_MS + 10);
  });

  afterEach(async () => {
    guard.onApplicationShutdown();
    await deleteKeys(redis, namespace);
  });

  afterAll(() => redis.quit());

  function deps(overrides: Partial<ProviderCallDeps>): ProviderCallDeps {
    return {
      // Never reached by a call that fails before it is sent.
      adapters: { get: () => ({}) as ProviderAdapter },
      circuit: guard,
      latency: { record: () => undefined },
      quota: { observer: () => () => undefined },
      events: { call: () => undefined, retry: () => undefined, fallback: () => undefined },
      clock: { now: () => Date.now(), monotonic: () => performance.now() },
      ...overrides,
    };
  }

  const probes = async (): Promise<string[]> =>
    (await new CircuitBreakerStore(redis, routingKeyPrefix(namespace), config.circuit).snapshot(d.id)).probes.map(
      (p) => p.id,
    );

  it.each([
    [
      'the adapter cannot be had',
      {
        adapters: {
          get: () => {
            throw new Error('plugin module failed to load');
          },
        },
      },
    ],
    [
      'the quota observer throws',
      {
        quota: {
          observer: () => {
            throw new Error('observer failed');
          },
        },
      },
    ],
  ] as [string, Partial<ProviderCallDeps>][])('%s: the call fails, its probe slot is freed', async (_, overrides) => {
    const permit = await guard.acquire(d.id);
    expect(permit).toMatchObject({ allowed: true });
    expect(permit.probeId).not.toBeNull();
    expect(await probes()).toEqual([permit.probeId]);
    const result = await callProvider(deps(overrides), {
      deployment: d,
      option: routeOptions(d, [], null)[0],
      request: generationRequest(),
      signal: new AbortController().signal,
      probeId: permit.probeId,
    });
    expect(result).toMatchObject({ ok: false, committed: false, circuitOpen: false });
    expect(result.ok ? null : result.error.errorClass).toBe(ErrorClass.Gateway);
    // The slot is free at once, and the circuit judged nothing: still half-open, the next call is the probe.
    expect(await probes()).toEqual([]);
    const next = await guard.acquire(d.id);
    expect(next.allowed).toBe(true);
    expect((await guard.states([d.id])).get(d.id)?.state).toBe('half_open');
  });
});
