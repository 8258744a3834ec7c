import { MigratedDatabase, RedisErrors, RedisKeys, type RedisOp } from '@aigw/platform';
import { CircuitBreakerStore, LatencyTracker, routingKeyPrefix } from '@aigw/routing';
import { waitFor } from '@aigw/testing';
import { Registry } from 'prom-client';
import type { DataSource } from 'typeorm';
import { WorkerMetrics } from '../../apps/router-worker/src/metrics/worker-metrics';
import { CIRCUIT_SUCCESS_MAX_DELAY_MS, CircuitGuard } from '../../apps/router-worker/src/routing/circuit-guard';
import { HistoricalLatency } from '../../apps/router-worker/src/routing/historical-latency';
import { LatencyBook } from '../../apps/router-worker/src/routing/latency-book';
import type { RoutingConfig } from '../../apps/router-worker/src/routing/routing-config';
import { connect, deleteKeys, sleep, uniquePrefix } from '../routing/redis';

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

/**
 * The worker's write-behind bookkeeping against the real Redis: successes of closed circuits and latency
 * samples are written in batches, and a batch written late must not undo what other workers recorded after it.
 */
describe('worker routing bookkeeping written behind (real Redis)', () => {
  const redisA = connect();
  const redisB = connect();
  let namespace: string;
  let ops: RedisOp[];
  const guards: CircuitGuard[] = [];

  function guard(redis = redisA): CircuitGuard {
    const errors = new RedisErrors({ warn: () => undefined, log: () => undefined }, { inc: ({ op }) => ops.push(op) });
    const g = new CircuitGuard(redis, new RedisKeys(namespace), config, new WorkerMetrics(new Registry()), errors);
    guards.push(g);
    return g;
  }

  /** What is in Redis, read the way an admin view does. */
  const snapshot = (id: string) =>
    new CircuitBreakerStore(redisB, routingKeyPrefix(namespace), config.circuit).snapshot(id);
  const successes = async (id: string): Promise<number> => (await snapshot(id)).buckets.reduce((n, b) => n + b.ok, 0);

  beforeEach(() => {
    namespace = uniquePrefix().slice(0, -1);
    ops = [];
  });

  afterEach(async () => {
    for (const g of guards.splice(0)) {
      g.onApplicationShutdown();
    }
    await deleteKeys(redisA, namespace);
  });

  afterAll(async () => {
    await Promise.all([redisA.quit(), redisB.quit()]);
  });

  it('writes the first success at once, then the next ones together, one script call per deployment', async () => {
    const g = guard();
    await g.settle('p/m', null, 'success');
    await waitFor(async () => (await successes('p/m')) === 1, { timeoutMs: 2000, intervalMs: 5 });
    for (let i = 0; i < 4; i++) {
      await g.settle('p/m', null, 'success');
    }
    await g.settle('q/n', null, 'success');
    await waitFor(async () => (await successes('p/m')) === 5 && (await successes('q/n')) === 1, {
      timeoutMs: CIRCUIT_SUCCESS_MAX_DELAY_MS + 2000,
      intervalMs: 20,
    });
    expect(ops).toEqual([]);
  });

  it("writes this worker's pending successes ahead of its failure, so the failure is judged with them", async () => {
    const g = guard();
    await g.settle('p/m', null, 'failure');
    await g.settle('p/m', null, 'success');
    await g.settle('p/m', null, 'success');
    await g.settle('p/m', null, 'failure');
    // Not flushed: the failure carried them. The first failure's streak was ended by them.
    expect(await snapshot('p/m')).toMatchObject({ state: 'closed', consecutiveFailures: 1 });
    expect(await successes('p/m')).toBe(2);
    await g.flush();
    expect(await successes('p/m')).toBe(2);
  });

  it("a batch written after another worker's failures does not end their streak", async () => {
    const a = guard(redisA);
    const b = guard(redisB);
    // A just wrote a batch, so its next success waits for the next one.
    await a.settle('other/m', null, 'success');
    await a.settle('p/m', null, 'success');
    await sleep(5);
    // B's failures come after A's success ended but before A writes it.
    await b.settle('p/m', null, 'failure');
    await b.settle('p/m', null, 'failure');
    await a.flush();
    expect(await snapshot('p/m')).toMatchObject({ state: 'closed', consecutiveFailures: 2 });
    await b.settle('p/m', null, 'failure');
    expect((await snapshot('p/m')).state).toBe('open');
    // Late successes of an open circuit count for nothing.
    await a.settle('p/m', null, 'success');
    await a.flush();
    expect((await snapshot('p/m')).state).toBe('open');
  });

  it('writes a probe success at once: it closes the circuit for every worker', async () => {
    const g = guard();
    for (let i = 0; i < 3; i++) {
      await g.settle('p/m', null, 'failure');
    }
    const store = new CircuitBreakerStore(redisA, routingKeyPrefix(namespace), config.circuit, {
      clock: () => Date.now() + config.circuit.openMs,
    });
    const permit = await store.acquire('p/m');
    expect(permit).toMatchObject({ allowed: true, state: 'half_open' });
    await g.settle('p/m', permit.probeId, 'success');
    expect((await snapshot('p/m')).state).toBe('closed');
  });

  it('flush writes what is pending now, after a write still running', async () => {
    const g = guard();
    await g.settle('p/m', null, 'success');
    const first = g.flush();
    await g.settle('p/m', null, 'success');
    await Promise.all([first, g.flush()]);
    expect(await successes('p/m')).toBe(2);
  });

  it('LatencyBook folds the samples of each kind and deployment into the shared averages', async () => {
    const errors = new RedisErrors({ warn: () => undefined, log: () => undefined }, { inc: ({ op }) => ops.push(op) });
    const book = new LatencyBook(
      redisA,
      new RedisKeys(namespace),
      config,
      new HistoricalLatency(new MigratedDatabase({} as DataSource)),
      errors,
    );
    try {
      book.record('p/m', false, 100);
      book.record('p/m', false, 300);
      book.record('p/m', true, 40);
      book.record('q/n', false, -5);
      expect(await book.recent(['p/m'], false)).toEqual(new Map());
      await waitFor(async () => (await book.recent(['p/m', 'q/n'], false)).size === 2, {
        timeoutMs: 2000,
        intervalMs: 20,
      });
      // 100, then 0.5 * 300 + 0.5 * 100; a negative duration (clock step) counts as 0.
      expect(await book.recent(['p/m', 'q/n'], false)).toEqual(
        new Map([
          ['p/m', 200],
          ['q/n', 0],
        ]),
      );
      expect(await book.recent(['p/m'], true)).toEqual(new Map([['p/m', 40]]));
      book.record('p/m', false, 0);
      await book.flush();
      const shared = new LatencyTracker(redisB, routingKeyPrefix(namespace), { alpha: 0.5 });
      expect(await shared.get(['p/m'])).toEqual(new Map([['p/m', 100]]));
      expect(ops).toEqual([]);
    } finally {
      book.onApplicationShutdown();
    }
  });
});
