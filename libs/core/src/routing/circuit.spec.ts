import { ErrorClass } from '../errors';
import {
  DEFAULT_CIRCUIT_CONFIG,
  acquireCircuit,
  assertCircuitConfig,
  circuitAvailability,
  circuitCooldownOf,
  circuitOutcomeOf,
  recordCircuitCooldown,
  closedCircuit,
  cooldownRetryMarginMs,
  recordCircuitFailure,
  recordCircuitSuccess,
  recordCircuitSuccesses,
  releaseCircuitProbe,
  resetCircuit,
  runningCooldown,
  windowCounts,
  type CircuitConfig,
  type CircuitData,
  type CircuitTransition,
} from './circuit';

const cfg: CircuitConfig = {
  failureThreshold: 5,
  failureRate: 0.5,
  windowMs: 10_000,
  minVolume: 10,
  openMs: 60_000,
  halfOpenMaxProbes: 1,
  probeTtlMs: 5_000,
};

/** A breaker driven by a controlled clock, collecting transitions. */
class Harness {
  data: CircuitData = closedCircuit();
  now = 1_700_000_000_000;
  transitions: CircuitTransition[] = [];
  private probes = 0;

  constructor(readonly config: CircuitConfig = cfg) {}

  private note(t: CircuitTransition | null): void {
    if (t) {
      this.transitions.push(t);
    }
  }

  acquire(slotMs?: number): ReturnType<typeof acquireCircuit>['permit'] {
    const step = acquireCircuit(this.data, this.now, this.config, `probe-${++this.probes}`, slotMs);
    this.data = step.data;
    this.note(step.transition);
    return step.permit;
  }

  success(probeId: string | null = null): void {
    const step = recordCircuitSuccess(this.data, this.now, this.config, probeId);
    this.data = step.data;
    this.note(step.transition);
  }

  failure(probeId: string | null = null): void {
    const step = recordCircuitFailure(this.data, this.now, this.config, probeId);
    this.data = step.data;
    this.note(step.transition);
  }

  get state(): string {
    return this.data.state;
  }

  tripOpen(): void {
    for (let i = 0; i < this.config.failureThreshold; i++) {
      this.failure();
    }
    expect(this.state).toBe('open');
  }
}

describe('circuit breaker: closed -> open', () => {
  it('opens after failureThreshold consecutive failures', () => {
    const h = new Harness();
    for (let i = 0; i < 4; i++) {
      h.failure();
    }
    expect(h.state).toBe('closed');
    h.failure();
    expect(h.state).toBe('open');
    expect(h.transitions).toEqual([{ from: 'closed', to: 'open', reason: 'consecutive_failures', at: h.now }]);
    expect(h.data.openedAt).toBe(h.now);
  });

  it('a success resets the consecutive count', () => {
    const h = new Harness();
    for (let i = 0; i < 4; i++) {
      h.failure();
    }
    h.success();
    for (let i = 0; i < 4; i++) {
      h.failure();
    }
    expect(h.state).toBe('closed');
    expect(h.data.consecutiveFailures).toBe(4);
  });

  it('successes reported together count in the window and end the streak of failures before them', () => {
    const h = new Harness();
    for (let i = 0; i < 4; i++) {
      h.failure();
    }
    expect(h.data.lastFailureAt).toBe(h.now);
    h.now += 50;
    // Three successes, the latest of which ended 10 ms ago: after the failures.
    h.data = recordCircuitSuccesses(h.data, h.now, cfg, 3, h.now - 10);
    expect(h.data.consecutiveFailures).toBe(0);
    expect(windowCounts(h.data, h.now, cfg)).toEqual({ ok: 3, fail: 4 });
  });

  it('successes reported late do not end a streak of failures that began after them', () => {
    const h = new Harness();
    const endedAt = h.now;
    h.now += 20;
    for (let i = 0; i < 4; i++) {
      h.failure();
    }
    h.now += 80;
    h.data = recordCircuitSuccesses(h.data, h.now, cfg, 2, endedAt);
    expect(h.data.consecutiveFailures).toBe(4);
    expect(windowCounts(h.data, h.now, cfg)).toEqual({ ok: 2, fail: 4 });
    h.failure();
    expect(h.state).toBe('open');
    expect(h.transitions.map((t) => t.reason)).toEqual(['consecutive_failures']);
  });

  it('successes reported together change nothing unless the circuit is closed', () => {
    const h = new Harness();
    h.tripOpen();
    const open = h.data;
    expect(recordCircuitSuccesses(open, h.now, cfg, 5, h.now)).toBe(open);
    h.now += cfg.openMs;
    h.acquire();
    expect(h.state).toBe('half_open');
    expect(recordCircuitSuccesses(h.data, h.now, cfg, 5, h.now)).toBe(h.data);
  });

  it('opens on a failure rate over the threshold once the window holds minVolume calls', () => {
    const h = new Harness();
    // S F F S F F S F: 5 of 8 failed, never 3 in a row, but volume is below 10.
    for (const ok of [true, false, false, true, false, false, true, false]) {
      if (ok) {
        h.success();
      } else {
        h.failure();
      }
    }
    expect(h.state).toBe('closed');
    h.failure(); // 9 calls, 6 failed
    expect(h.state).toBe('closed');
    h.success(); // 10 calls, 6 failed: a success never opens
    expect(h.state).toBe('closed');
    h.failure(); // 11 calls, 7 failed = 0.64 > 0.5
    expect(h.state).toBe('open');
    expect(h.transitions.map((t) => t.reason)).toEqual(['failure_rate']);
  });

  it('does not open at exactly the failure rate (strictly over)', () => {
    const h = new Harness();
    for (let i = 0; i < 5; i++) {
      h.success();
      h.failure();
    }
    expect(windowCounts(h.data, h.now, cfg)).toEqual({ ok: 5, fail: 5 });
    expect(h.state).toBe('closed');
  });

  it('forgets calls that slid out of the window', () => {
    const h = new Harness();
    for (let i = 0; i < 6; i++) {
      h.success();
      h.failure();
    }
    expect(h.state).toBe('closed');
    expect(windowCounts(h.data, h.now, cfg)).toEqual({ ok: 6, fail: 6 });
    // One more failure now would be 7 of 13 (> 0.5); a window later it is 1 of 1, below minVolume.
    h.now += cfg.windowMs + 1;
    expect(windowCounts(h.data, h.now, cfg)).toEqual({ ok: 0, fail: 0 });
    h.failure();
    expect(h.state).toBe('closed');
    expect(windowCounts(h.data, h.now, cfg)).toEqual({ ok: 0, fail: 1 });
  });

  it('counts per bucket: a call in the oldest surviving bucket still counts', () => {
    const h = new Harness();
    h.failure();
    h.now += cfg.windowMs * 0.85;
    h.success();
    expect(windowCounts(h.data, h.now, cfg)).toEqual({ ok: 1, fail: 1 });
  });
});

describe('circuit breaker: open -> half-open -> closed/open', () => {
  it('refuses calls while open, with the time left', () => {
    const h = new Harness();
    h.tripOpen();
    h.now += 1000;
    expect(h.acquire()).toEqual({ allowed: false, state: 'open', probeId: null, retryAfterMs: cfg.openMs - 1000 });
  });

  it('turns half-open after openMs and admits at most halfOpenMaxProbes probes', () => {
    const h = new Harness({ ...cfg, halfOpenMaxProbes: 3 });
    h.tripOpen();
    h.now += cfg.openMs;
    const permits = Array.from({ length: 5 }, () => h.acquire());
    expect(permits.map((p) => p.allowed)).toEqual([true, true, true, false, false]);
    expect(permits.slice(0, 3).map((p) => p.probeId)).toEqual(['probe-1', 'probe-2', 'probe-3']);
    expect(permits[3]).toEqual({ allowed: false, state: 'half_open', probeId: null, retryAfterMs: 1000 });
    expect(h.transitions.at(-1)).toEqual({ from: 'open', to: 'half_open', reason: 'open_elapsed', at: h.now });
  });

  it('tells a call refused while the probes run to come back in a second, as the read-side check does', () => {
    // The probe's own call usually settles the circuit within a second; its slot's expiry (probeTtlMs) only bounds
    // a probe whose worker died, and is no estimate of when a call may go through.
    const h = new Harness({ ...cfg, probeTtlMs: 120_000 });
    h.tripOpen();
    h.now += cfg.openMs;
    expect(h.acquire().allowed).toBe(true);
    h.now += 10;
    const refused = h.acquire();
    expect(refused).toMatchObject({ allowed: false, state: 'half_open', retryAfterMs: 1000 });
    const check = circuitAvailability('half_open', h.now - 10 - cfg.openMs, 1, h.now, h.config);
    expect(check).toEqual({ available: false, retryAfterMs: refused.retryAfterMs });
  });

  it('frees a probe slot when it expires (a worker died mid-probe)', () => {
    const h = new Harness();
    h.tripOpen();
    h.now += cfg.openMs;
    expect(h.acquire().allowed).toBe(true);
    h.now += cfg.probeTtlMs - 1;
    expect(h.acquire().allowed).toBe(false);
    h.now += 1;
    const again = h.acquire();
    expect(again.allowed).toBe(true);
    expect(h.data.probes).toHaveLength(1);
  });

  it('holds a probe slot as long as its call may run when that is longer than probeTtlMs, never shorter', () => {
    const h = new Harness();
    h.tripOpen();
    h.now += cfg.openMs;
    // A call that may run 30 s (a slow deployment's timeout): its slot outlasts probeTtlMs (5 s).
    expect(h.acquire(30_000).allowed).toBe(true);
    h.now += cfg.probeTtlMs;
    expect(h.acquire(30_000).allowed).toBe(false);
    h.now += 30_000 - cfg.probeTtlMs - 1;
    expect(h.acquire().allowed).toBe(false);
    h.now += 1;
    expect(h.acquire(1_000).allowed).toBe(true);
    // A shorter call still holds probeTtlMs.
    expect(h.data.probes).toEqual([{ id: expect.any(String) as unknown, expiresAt: h.now + cfg.probeTtlMs }]);
  });

  it('a released probe slot can be taken again without changing state', () => {
    const h = new Harness();
    h.tripOpen();
    h.now += cfg.openMs;
    const probe = h.acquire();
    h.data = releaseCircuitProbe(h.data, probe.probeId!);
    expect(h.state).toBe('half_open');
    expect(h.acquire().allowed).toBe(true);
  });

  it("a probe's success closes the circuit and clears the window", () => {
    const h = new Harness();
    h.tripOpen();
    h.now += cfg.openMs;
    const probe = h.acquire();
    h.success(probe.probeId);
    expect(h.state).toBe('closed');
    expect(h.data).toEqual(closedCircuit());
    expect(h.transitions.map((t) => `${t.from}>${t.to}:${t.reason}`)).toEqual([
      'closed>open:consecutive_failures',
      'open>half_open:open_elapsed',
      'half_open>closed:probe_succeeded',
    ]);
    h.failure();
    expect(h.state).toBe('closed');
  });

  it("a probe's failure re-opens the circuit for another openMs", () => {
    const h = new Harness();
    h.tripOpen();
    h.now += cfg.openMs + 500;
    const probe = h.acquire();
    h.now += 200;
    h.failure(probe.probeId);
    expect(h.state).toBe('open');
    expect(h.data.openedAt).toBe(h.now);
    expect(h.data.probes).toEqual([]);
    expect(h.transitions.at(-1)).toEqual({ from: 'half_open', to: 'open', reason: 'probe_failed', at: h.now });
    h.now += cfg.openMs - 1;
    expect(h.acquire().allowed).toBe(false);
  });

  it("ignores a late probe's result: one from an earlier half-open round, or whose slot expired", () => {
    const h = new Harness({ ...cfg, halfOpenMaxProbes: 2 });
    h.tripOpen();
    h.now += cfg.openMs;
    const [first, second] = [h.acquire(), h.acquire()];
    h.failure(first.probeId);
    expect(h.state).toBe('open');
    h.now += cfg.openMs;
    const third = h.acquire();
    expect(third.allowed).toBe(true);
    const before = h.transitions.length;
    // The earlier round's second probe answers in this round: neither its success nor its failure decides.
    h.success(second.probeId);
    h.failure(second.probeId);
    expect(h.state).toBe('half_open');
    // The third probe's slot expires under it; its late result neither.
    h.now += cfg.probeTtlMs;
    h.success(third.probeId);
    h.failure(third.probeId);
    expect(h.state).toBe('half_open');
    expect(h.transitions.length).toBe(before);
    // A live probe's does.
    const fourth = h.acquire();
    h.success(fourth.probeId);
    expect(h.state).toBe('closed');
  });

  it('ignores late outcomes of calls admitted before the circuit opened', () => {
    const h = new Harness();
    h.tripOpen();
    h.success();
    h.failure();
    expect(h.state).toBe('open');
    h.now += cfg.openMs;
    h.acquire();
    h.success();
    h.failure();
    expect(h.state).toBe('half_open');
    expect(h.transitions).toHaveLength(2);
  });
});

describe('circuit breaker: cooldowns (a provider asked for a wait)', () => {
  it('refuses every call until the wait is over, counting no failure, on any number of them', () => {
    const h = new Harness();
    for (let i = 0; i < cfg.failureThreshold + 2; i++) {
      h.data = recordCircuitCooldown(h.data, h.now, cfg, null, 2_000, 429);
      expect(h.acquire()).toEqual({ allowed: false, state: 'closed', probeId: null, retryAfterMs: 2_000 });
      expect(circuitAvailability('closed', 0, 0, h.now, cfg, { until: h.data.cooldownUntil, status: 429 })).toEqual({
        available: false,
        retryAfterMs: 2_000,
        cooldownStatus: 429,
      });
      h.now += 2_000;
      expect(h.acquire().allowed).toBe(true);
    }
    expect(h.state).toBe('closed');
    expect(h.data.consecutiveFailures).toBe(0);
    expect(windowCounts(h.data, h.now, cfg)).toEqual({ ok: 0, fail: 0 });
    expect(h.transitions).toEqual([]);
  });

  it('holds a wait at most openMs, and keeps the later end of two', () => {
    const h = new Harness();
    h.data = recordCircuitCooldown(h.data, h.now, cfg, null, 3_600_000, 429);
    expect(h.data.cooldownUntil).toBe(h.now + cfg.openMs);
    h.data = recordCircuitCooldown(h.data, h.now, cfg, null, 1_000, 503);
    expect(h.data).toMatchObject({ cooldownUntil: h.now + cfg.openMs, cooldownStatus: 429 });
  });

  it("frees a probe's slot and keeps the circuit half-open; no probe goes in before the wait is over", () => {
    const h = new Harness();
    h.tripOpen();
    h.now += cfg.openMs;
    const probe = h.acquire();
    expect(probe.probeId).not.toBeNull();
    h.data = recordCircuitCooldown(h.data, h.now, cfg, probe.probeId, 5_000, 529);
    expect(h.data.probes).toEqual([]);
    expect(h.state).toBe('half_open');
    expect(h.acquire()).toMatchObject({ allowed: false, retryAfterMs: 5_000 });
    h.now += 5_000;
    expect(h.acquire().allowed).toBe(true);
  });

  it('an open circuit refuses for the longer of its open period and the wait', () => {
    const h = new Harness();
    h.tripOpen();
    h.data = recordCircuitCooldown(h.data, h.now, cfg, null, 1_000, 429);
    expect(h.acquire()).toMatchObject({ allowed: false, state: 'open', retryAfterMs: cfg.openMs });
    // Only a cooldown names its status to the read side: here the circuit refuses too.
    expect(
      circuitAvailability('open', h.data.openedAt, 0, h.now, cfg, { until: h.data.cooldownUntil, status: 429 }),
    ).toEqual({ available: false, retryAfterMs: cfg.openMs });
  });

  it('only a 429, 503 or 529 that named a wait asks for a cooldown, kept with the status it is answered as', () => {
    expect(circuitCooldownOf({ errorClass: ErrorClass.RateLimit, status: 429, retryAfterMs: 1_500 })).toEqual({
      ms: 1_500,
      status: 429,
    });
    expect(circuitCooldownOf({ errorClass: ErrorClass.Provider, status: 503, retryAfterMs: 1_500 })).toEqual({
      ms: 1_500,
      status: 503,
    });
    expect(circuitCooldownOf({ errorClass: ErrorClass.Provider, status: 529, retryAfterMs: 1 })).toEqual({
      ms: 1,
      status: 529,
    });
    // Overloaded in a stream (no status): kept as a 529; a rate limit stays a 429 whatever else it says.
    expect(circuitCooldownOf({ errorClass: ErrorClass.Provider, overloaded: true, retryAfterMs: 9 })).toEqual({
      ms: 9,
      status: 529,
    });
    expect(circuitCooldownOf({ errorClass: ErrorClass.RateLimit, overloaded: true, retryAfterMs: 9 })).toEqual({
      ms: 9,
      status: 429,
    });
    expect(circuitCooldownOf({ errorClass: ErrorClass.RateLimit, status: 429 })).toBeNull();
    expect(circuitCooldownOf({ errorClass: ErrorClass.RateLimit, status: 429, retryAfterMs: 0 })).toBeNull();
    expect(circuitCooldownOf({ errorClass: ErrorClass.Provider, status: 500, retryAfterMs: 1_500 })).toBeNull();
    expect(circuitCooldownOf({ errorClass: ErrorClass.Timeout, retryAfterMs: 1_500 })).toBeNull();
  });

  it("a request's own retry waits a little past the cooldown it wrote: 1 ms, and 1 ms more per second", () => {
    expect(cooldownRetryMarginMs(80)).toBe(2);
    expect(cooldownRetryMarginMs(2_000)).toBe(3);
    expect(cooldownRetryMarginMs(60_000)).toBe(61);
  });

  it('a reset ends the wait', () => {
    const h = new Harness();
    h.data = recordCircuitCooldown(h.data, h.now, cfg, null, 5_000, 429);
    // What the reset ends besides the circuit (closed all along): the admin reset reports it.
    expect(runningCooldown(h.data, h.now + 1_000)).toEqual({ remainingMs: 4_000, status: 429 });
    expect(runningCooldown(h.data, h.now + 5_000)).toBeNull();
    expect(resetCircuit(h.data, h.now).data).toEqual(closedCircuit());
  });
});

describe('circuit breaker: reset, availability, config', () => {
  it('reset closes from any state and reports the transition', () => {
    const h = new Harness();
    h.tripOpen();
    const step = resetCircuit(h.data, h.now);
    expect(step.data).toEqual(closedCircuit());
    expect(step.transition).toEqual({ from: 'open', to: 'closed', reason: 'reset', at: h.now });
    expect(resetCircuit(closedCircuit(), h.now).transition).toBeNull();
  });

  it('availability mirrors what acquire would do', () => {
    expect(circuitAvailability('closed', 0, 0, 1000, cfg).available).toBe(true);
    expect(circuitAvailability('open', 1000, 0, 1000 + cfg.openMs - 1, cfg)).toEqual({
      available: false,
      retryAfterMs: 1,
    });
    expect(circuitAvailability('open', 1000, 0, 1000 + cfg.openMs, cfg).available).toBe(true);
    expect(circuitAvailability('half_open', 0, 0, 0, cfg).available).toBe(true);
    expect(circuitAvailability('half_open', 0, 1, 0, cfg)).toEqual({ available: false, retryAfterMs: 1000 });
  });

  it('only provider-side failures count; the caller filters with circuitOutcomeOf', () => {
    for (const c of [ErrorClass.InvalidRequest, ErrorClass.ContextLength, ErrorClass.Cancelled]) {
      expect(circuitOutcomeOf(c)).toBe('neutral');
    }
    for (const c of [
      ErrorClass.Network,
      ErrorClass.Timeout,
      ErrorClass.RateLimit,
      ErrorClass.Provider,
      ErrorClass.Auth,
      ErrorClass.Gateway,
    ]) {
      expect(circuitOutcomeOf(c)).toBe('failure');
    }
  });

  it('validates its config', () => {
    expect(() => assertCircuitConfig(DEFAULT_CIRCUIT_CONFIG)).not.toThrow();
    expect(() => assertCircuitConfig({ ...cfg, halfOpenMaxProbes: 0, failureRate: 1.5 })).toThrow(
      /halfOpenMaxProbes must be an integer >= 1.*failureRate must be within 0\.\.1/,
    );
  });
});
