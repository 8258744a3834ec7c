import type { CircuitConfig, CircuitTransition } from '@aigw/core';
import type Redis from 'ioredis';
import { CircuitBreakerStore } from '@aigw/routing';
import { connect, deleteKeys, sleep, uniquePrefix } from './redis';

const config: CircuitConfig = {
  failureThreshold: 5,
  failureRate: 0.5,
  windowMs: 60_000,
  minVolume: 20,
  openMs: 60_000,
  halfOpenMaxProbes: 3,
  probeTtlMs: 30_000,
};

describe('CircuitBreakerStore (real Redis, two workers)', () => {
  let workerA: Redis;
  let workerB: Redis;
  let prefix: string;
  let now: number;
  const clock = (): number => now;

  beforeAll(() => {
    workerA = connect();
    workerB = connect();
  });

  afterAll(async () => {
    await Promise.all([workerA.quit(), workerB.quit()]);
  });

  beforeEach(() => {
    prefix = uniquePrefix();
    now = 1_700_000_000_000;
  });

  afterEach(async () => {
    await deleteKeys(workerA, prefix);
  });

  function stores(cfg: CircuitConfig = config, onTransition?: (id: string, t: CircuitTransition) => void) {
    return {
      a: new CircuitBreakerStore(workerA, prefix, cfg, { clock, onTransition }),
      b: new CircuitBreakerStore(workerB, prefix, cfg, { clock, onTransition }),
    };
  }

  it('counts failures from both workers toward one threshold', async () => {
    const seen: string[] = [];
    const { a, b } = stores(config, (id, t) => seen.push(`${id} ${t.from}>${t.to} ${t.reason}`));
    for (let i = 0; i < 2; i++) {
      await a.recordFailure('p/m');
      await b.recordFailure('p/m');
    }
    expect((await a.states(['p/m'])).get('p/m')?.state).toBe('closed');
    const fifth = await b.recordFailure('p/m');
    expect(fifth.state).toBe('open');
    expect(fifth.transition).toEqual({ from: 'closed', to: 'open', reason: 'consecutive_failures', at: now });
    expect(seen).toEqual(['p/m closed>open consecutive_failures']);

    const refused = await a.acquire('p/m');
    expect(refused).toMatchObject({ allowed: false, state: 'open', retryAfterMs: config.openMs });
    const status = (await b.states(['p/m', 'other/model'])).get('p/m');
    expect(status).toMatchObject({ state: 'open', available: false, openedAt: now });
  });

  it('a success on either worker resets the consecutive count', async () => {
    const { a, b } = stores();
    for (let i = 0; i < 4; i++) {
      await a.recordFailure('p/m');
    }
    await b.recordSuccess('p/m');
    for (let i = 0; i < 4; i++) {
      await b.recordFailure('p/m');
    }
    expect((await a.snapshot('p/m')).state).toBe('closed');
    expect((await a.snapshot('p/m')).consecutiveFailures).toBe(4);
  });

  it('successes reported late by one worker end only the failures recorded before they ended', async () => {
    const { a, b } = stores();
    // B's success ended at `now`; A's failures come 20 ms later; B reports the success 100 ms after it ended.
    now += 20;
    for (let i = 0; i < 4; i++) {
      await a.recordFailure('p/m');
    }
    now += 80;
    await b.recordSuccesses('p/m', 3, 100);
    const kept = await a.snapshot('p/m');
    expect(kept).toMatchObject({ state: 'closed', consecutiveFailures: 4, lastFailureAt: now - 80 });
    expect(kept.buckets.reduce((n, bucket) => n + bucket.ok, 0)).toBe(3);
    const fifth = await a.recordFailure('p/m');
    expect(fifth.transition?.reason).toBe('consecutive_failures');

    // After the failures, the same late report ends the streak.
    await a.reset('p/m');
    await a.recordFailure('p/m');
    now += 30;
    await b.recordSuccesses('p/m', 1, 10);
    expect((await a.snapshot('p/m')).consecutiveFailures).toBe(0);
    await expect(b.recordSuccesses('p/m', 0, 0)).rejects.toThrow(/count >= 1/);
  });

  it('measures a late success by the Redis server clock when no clock is injected', async () => {
    const a = new CircuitBreakerStore(workerA, prefix, config);
    await a.recordFailure('p/m');
    // Ended an hour ago, long before the failure: the streak stands.
    await a.recordSuccesses('p/m', 1, 3_600_000);
    expect((await a.snapshot('p/m')).consecutiveFailures).toBe(1);
    await sleep(5);
    // Ended just now, after the failure.
    await a.recordSuccesses('p/m', 1, 0);
    expect((await a.snapshot('p/m')).consecutiveFailures).toBe(0);
  });

  it('opens on the shared failure rate once the window has minVolume calls', async () => {
    const { a, b } = stores({ ...config, minVolume: 10 });
    const results = [];
    // S F F, alternating workers: never 3 failures in a row, 2/3 of calls fail.
    for (let i = 0; i < 4; i++) {
      results.push(await a.recordSuccess('p/m'));
      results.push(await b.recordFailure('p/m'));
      results.push(await a.recordFailure('p/m'));
    }
    const opened = results.find((r) => r.transition !== null);
    expect(opened?.transition?.reason).toBe('failure_rate');
    // Call 11 (S F F S F F S F F S F) is the first failure with volume >= 10.
    expect(results.indexOf(opened!)).toBe(10);
  });

  it('admits exactly halfOpenMaxProbes of 50 parallel acquires in half-open', async () => {
    const { a, b } = stores();
    for (let i = 0; i < config.failureThreshold; i++) {
      await a.recordFailure('p/m');
    }
    now += config.openMs;
    const permits = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? a : b).acquire('p/m')));
    const allowed = permits.filter((p) => p.allowed);
    expect(allowed).toHaveLength(config.halfOpenMaxProbes);
    expect(new Set(allowed.map((p) => p.probeId)).size).toBe(config.halfOpenMaxProbes);
    expect(permits.every((p) => p.state === 'half_open')).toBe(true);
    // Exactly one caller observed (and reports) the open -> half-open transition.
    expect(permits.filter((p) => p.transition !== null)).toHaveLength(1);
    expect((await a.states(['p/m'])).get('p/m')).toMatchObject({
      state: 'half_open',
      probesInFlight: 3,
      available: false,
    });
  });

  it('frees probe slots when they expire (a worker died mid-probe)', async () => {
    const { a, b } = stores({ ...config, halfOpenMaxProbes: 1 });
    for (let i = 0; i < config.failureThreshold; i++) {
      await a.recordFailure('p/m');
    }
    now += config.openMs;
    expect((await a.acquire('p/m')).allowed).toBe(true);
    // Refused while the probe runs: come back in a second (it usually settles by then), as `states` says too.
    expect(await b.acquire('p/m')).toMatchObject({ allowed: false, retryAfterMs: 1000 });
    expect((await b.states(['p/m'])).get('p/m')).toMatchObject({ available: false, retryAfterMs: 1000 });
    now += config.probeTtlMs - 1;
    expect(await b.acquire('p/m')).toMatchObject({ allowed: false, retryAfterMs: 1000 });
    now += 1;
    const second = await b.acquire('p/m');
    expect(second.allowed).toBe(true);
    expect((await a.snapshot('p/m')).probes).toEqual([{ id: second.probeId, expiresAt: now + config.probeTtlMs }]);
  });

  it("holds a probe slot for the call's own time when it asks for longer than probeTtlMs, on every worker", async () => {
    const { a, b } = stores({ ...config, halfOpenMaxProbes: 1 });
    for (let i = 0; i < config.failureThreshold; i++) {
      await a.recordFailure('p/m');
    }
    now += config.openMs;
    const slotMs = 4 * config.probeTtlMs;
    const first = await a.acquire('p/m', slotMs);
    expect(first.allowed).toBe(true);
    expect((await a.snapshot('p/m')).probes).toEqual([{ id: first.probeId, expiresAt: now + slotMs }]);
    // probeTtlMs has passed, the call may still run: no second probe.
    now += config.probeTtlMs;
    expect(await b.acquire('p/m', slotMs)).toMatchObject({ allowed: false, retryAfterMs: 1000 });
    expect((await b.states(['p/m'])).get('p/m')).toMatchObject({ probesInFlight: 1, available: false });
    now += slotMs - config.probeTtlMs;
    expect((await b.acquire('p/m')).allowed).toBe(true);
    expect(() => a.acquire('p/m', -1)).toThrow('slot time');
  });

  it('expires probe slots by the Redis server clock when no clock is injected', async () => {
    const fast: CircuitConfig = { ...config, openMs: 100, probeTtlMs: 300, halfOpenMaxProbes: 1 };
    const a = new CircuitBreakerStore(workerA, prefix, fast);
    const b = new CircuitBreakerStore(workerB, prefix, fast);
    for (let i = 0; i < fast.failureThreshold; i++) {
      await a.recordFailure('p/m');
    }
    expect((await b.acquire('p/m')).allowed).toBe(false);
    await sleep(150);
    expect((await b.acquire('p/m')).allowed).toBe(true);
    expect((await a.acquire('p/m')).allowed).toBe(false);
    await sleep(350);
    expect((await a.acquire('p/m')).allowed).toBe(true);
  });

  it("a probe's success closes the circuit for every worker; a probe's failure re-opens it", async () => {
    const { a, b } = stores();
    for (let i = 0; i < config.failureThreshold; i++) {
      await a.recordFailure('p/m');
    }
    now += config.openMs;
    const probe = await a.acquire('p/m');
    const failed = await a.recordFailure('p/m', probe.probeId);
    expect(failed.transition).toEqual({ from: 'half_open', to: 'open', reason: 'probe_failed', at: now });
    expect((await b.acquire('p/m')).allowed).toBe(false);

    now += config.openMs;
    const again = await b.acquire('p/m');
    expect(again.allowed).toBe(true);
    const closed = await b.recordSuccess('p/m', again.probeId);
    expect(closed.transition).toEqual({ from: 'half_open', to: 'closed', reason: 'probe_succeeded', at: now });
    expect(await a.acquire('p/m')).toMatchObject({ allowed: true, state: 'closed', probeId: null });
    expect(await a.snapshot('p/m')).toMatchObject({ state: 'closed', consecutiveFailures: 0, probes: [] });
  });

  it("ignores a late probe's result: one from an earlier half-open round, or whose slot expired", async () => {
    const { a, b } = stores({ ...config, halfOpenMaxProbes: 2 });
    for (let i = 0; i < config.failureThreshold; i++) {
      await a.recordFailure('p/m');
    }
    now += config.openMs;
    const [first, second] = [await a.acquire('p/m'), await b.acquire('p/m')];
    // The first probe fails: open again, and after openMs a new round with a probe of its own.
    expect((await a.recordFailure('p/m', first.probeId)).state).toBe('open');
    now += config.openMs;
    const third = await a.acquire('p/m');
    expect(third.allowed).toBe(true);
    // The second probe of the earlier round answers now: its success proves nothing of this round, nor its failure.
    expect(await b.recordSuccess('p/m', second.probeId)).toEqual({ state: 'half_open', transition: null });
    expect(await b.recordFailure('p/m', second.probeId)).toEqual({ state: 'half_open', transition: null });
    expect((await a.snapshot('p/m')).probes.map((p) => p.id)).toEqual([third.probeId]);
    // The third probe's slot expires under it (its worker stalled); another takes the round on.
    now += config.probeTtlMs;
    const fourth = await b.acquire('p/m');
    expect(fourth.allowed).toBe(true);
    expect(await a.recordSuccess('p/m', third.probeId)).toEqual({ state: 'half_open', transition: null });
    expect(await a.recordFailure('p/m', third.probeId)).toEqual({ state: 'half_open', transition: null });
    // A made-up id neither; the live probe's result decides.
    expect(await a.recordFailure('p/m', 'no-such-probe')).toEqual({ state: 'half_open', transition: null });
    const closed = await b.recordSuccess('p/m', fourth.probeId);
    expect(closed.transition).toEqual({ from: 'half_open', to: 'closed', reason: 'probe_succeeded', at: now });
  });

  it('release frees a probe slot without judging the provider', async () => {
    const { a, b } = stores({ ...config, halfOpenMaxProbes: 1 });
    for (let i = 0; i < config.failureThreshold; i++) {
      await a.recordFailure('p/m');
    }
    now += config.openMs;
    const probe = await a.acquire('p/m');
    expect((await b.acquire('p/m')).allowed).toBe(false);
    expect((await a.release('p/m', probe.probeId)).state).toBe('half_open');
    expect((await b.acquire('p/m')).allowed).toBe(true);
  });

  it('reset closes an open circuit and reports the transition', async () => {
    const { a, b } = stores();
    for (let i = 0; i < config.failureThreshold; i++) {
      await a.recordFailure('p/m');
    }
    const reset = await b.reset('p/m');
    expect(reset).toEqual({
      state: 'closed',
      transition: { from: 'open', to: 'closed', reason: 'reset', at: now },
      endedCooldown: null,
    });
    expect((await a.acquire('p/m')).allowed).toBe(true);
    expect(await workerA.exists(`${prefix}cb:{p/m}`, `${prefix}cb:{p/m}:probes`)).toBe(0);
    expect((await b.reset('p/m')).transition).toBeNull();
  });

  it('reads a cooldown with its end (closed or open), and the admin reset ends it for every worker', async () => {
    const { a, b } = stores();
    await a.recordCooldown('p/m', null, 20_000, 429);
    expect((await b.states(['p/m'])).get('p/m')).toEqual({
      state: 'closed',
      openedAt: 0,
      probesInFlight: 0,
      available: false,
      retryAfterMs: 20_000,
      cooldownStatus: 429,
      cooldownUntil: now + 20_000,
    });
    // Open and cooling: not the cooldown's answer (`cooldownStatus`), but its end is still told.
    for (let i = 0; i < config.failureThreshold; i++) {
      await a.recordFailure('q/m');
    }
    await a.recordCooldown('q/m', null, 10_000, 503);
    const open = (await b.states(['q/m'])).get('q/m');
    expect(open).toMatchObject({ state: 'open', available: false, cooldownUntil: now + 10_000 });
    expect(open?.cooldownStatus).toBeUndefined();
    // The reset of a closed but cooling circuit ends the cooldown: every worker may call it at once.
    // It says so, though the circuit was closed all along (no transition): the cooldown it ended.
    expect(await b.reset('p/m')).toEqual({
      state: 'closed',
      transition: null,
      endedCooldown: { remainingMs: 20_000, status: 429 },
    });
    expect((await a.acquire('p/m')).allowed).toBe(true);
    expect((await a.states(['p/m'])).get('p/m')).toEqual({
      state: 'closed',
      openedAt: 0,
      probesInFlight: 0,
      available: true,
      retryAfterMs: null,
    });
    // Past its end a cooldown is no longer told.
    now += 10_000;
    expect((await a.states(['q/m'])).get('q/m')?.cooldownUntil).toBeUndefined();
  });

  it('keeps deployments independent and reads many states in one call', async () => {
    const { a } = stores();
    for (let i = 0; i < config.failureThreshold; i++) {
      await a.recordFailure('sick/m');
    }
    await a.recordSuccess('well/m');
    const states = await a.states(['sick/m', 'well/m', 'never/seen']);
    expect([...states.entries()].map(([id, s]) => [id, s.state, s.available])).toEqual([
      ['sick/m', 'open', false],
      ['well/m', 'closed', true],
      ['never/seen', 'closed', true],
    ]);
    now += config.openMs;
    expect((await a.states(['sick/m'])).get('sick/m')).toMatchObject({ state: 'open', available: true });
    expect((await a.states([])).size).toBe(0);
  });

  it('reads states on another connection with one HMGET each, all issued at once, and builds no ioredis pipeline', async () => {
    const { a } = stores({ ...config, halfOpenMaxProbes: 1 });
    for (let i = 0; i < config.failureThreshold; i++) {
      await a.recordFailure('probing/m');
    }
    now += config.openMs;
    expect((await a.acquire('probing/m')).allowed).toBe(true);
    // The worker's blocking connection carries BullMQ's dozens of scripts, which every pipeline built on it copies.
    const spies = [workerA, workerB].flatMap((c) => [jest.spyOn(c, 'pipeline'), jest.spyOn(c, 'multi')]);
    const hmget = jest.spyOn(workerB, 'hmget');
    try {
      const read = a.states(['probing/m', 'well/m', 'never/seen'], workerB);
      // Issued before the first await: behind a worker's BZPOPMIN they leave in the same write as the wait.
      expect(hmget).toHaveBeenCalledTimes(3);
      const states = await read;
      expect(states.get('probing/m')).toMatchObject({ state: 'half_open', probesInFlight: 1, available: false });
      expect(states.get('well/m')).toMatchObject({ state: 'closed', available: true });
      expect(spies.map((s) => s.mock.calls.length)).toEqual([0, 0, 0, 0]);
    } finally {
      hmget.mockRestore();
      spies.forEach((s) => s.mockRestore());
    }
  });

  it('rejects an invalid config up front', () => {
    expect(() => new CircuitBreakerStore(workerA, prefix, { ...config, halfOpenMaxProbes: 0 })).toThrow(
      /halfOpenMaxProbes/,
    );
  });
});
