import { countsAgainstProvider, ErrorClass } from '../errors';
import { merged } from '../objects';

/*
 * Circuit breaker as a pure state machine with an explicit clock: the specification (ADR 0012),
 * so a change starts here. The Redis store in @aigw/routing runs the same transitions in Lua
 * (so they are atomic across workers); a differential test drives both with the same events
 * and compares them.
 *
 * The caller filters what counts (`circuitOutcomeOf`): only provider-side failures are
 * recorded; an invalid request says nothing about the provider's health. Outcomes that do
 * not count still release a probe slot (`releaseCircuitProbe`).
 */

export type CircuitState = 'closed' | 'open' | 'half_open';

/**
 * How a failed call is reported to the breaker: `failure` for provider-side errors (network,
 * timeout, 429, 5xx, auth, gateway), `neutral` for errors the request itself caused or
 * cancellation (record nothing, but release a probe slot).
 */
export function circuitOutcomeOf(errorClass: ErrorClass): 'failure' | 'neutral' {
  return countsAgainstProvider(errorClass) ? 'failure' : 'neutral';
}

export const CIRCUIT_STATES: readonly CircuitState[] = ['closed', 'open', 'half_open'];

/** Statuses by which a provider says it has no room for a request now: unavailable, and Anthropic's overloaded. */
const NO_ROOM_STATUSES: ReadonlySet<number> = new Set([503, 529]);

/** A failed call as an attempt, an error or the breaker describes it: its class, the provider's status, the wait. */
export interface CircuitFailure {
  errorClass?: string;
  status?: number;
  overloaded?: boolean;
  retryAfterMs?: number;
}

/**
 * A call refused for the provider's capacity, which comes back: its rate limit, or it said it is overloaded or
 * unavailable. Not a 500, a timeout, a network failure or a refused key: those say nothing of a retry's chances.
 * The answer of a request every provider refused so (`allProvidersFailed`), and with a named wait a cooldown
 * (`circuitCooldownOf`).
 */
export function refusedForCapacity(failure: CircuitFailure): boolean {
  if (failure.errorClass === ErrorClass.RateLimit || failure.overloaded === true) {
    return true;
  }
  return (
    failure.errorClass === ErrorClass.Provider && failure.status !== undefined && NO_ROOM_STATUSES.has(failure.status)
  );
}

/** A wait a provider asked for (`circuitCooldownOf`), and the status it is kept with. */
export interface CircuitCooldown {
  /** How long it asked to be left alone (ms, > 0). */
  ms: number;
  /** What a request refused for it is answered as: 429 (a rate limit), 529 (overloaded) or 503 (no room). */
  status: 429 | 503 | 529;
}

/**
 * The wait a provider asked for, when a failure is such a request: a call refused for its capacity
 * (`refusedForCapacity`: a rate limit, a 503/529, overloaded) with a Retry-After. Such a provider is answering, and
 * told when it will take calls again: the deployment is set aside for that long on every worker
 * (`recordCircuitCooldown`, with the status) rather than called by each request and counted as failing until the
 * breaker opens for CB_OPEN_MS, whatever wait it named. Null for any other failure (it counts as before), and for one
 * that named no wait. The one classification of a failed call as a cooldown: asked once per call, its answer travels
 * with the call's result.
 */
export function circuitCooldownOf(failure: CircuitFailure): CircuitCooldown | null {
  const { retryAfterMs } = failure;
  if (retryAfterMs === undefined || !(retryAfterMs > 0) || !refusedForCapacity(failure)) {
    return null;
  }
  if (failure.errorClass === ErrorClass.RateLimit) {
    return { ms: retryAfterMs, status: 429 };
  }
  return { ms: retryAfterMs, status: failure.status === 529 || failure.overloaded === true ? 529 : 503 };
}

/**
 * How much longer than a cooldown's wait (`circuitCooldownOf`) a request's own retry of that deployment sleeps, so
 * the cooldown its failure just wrote has ended when the retry asks the circuit. Both ends of the cooldown are read
 * from the Redis clock (the script's TIME: `cooldown` writes now + wait, the retry's `acquire` compares its own now),
 * so the workers' clocks and their skew play no part; but the sleep is a Node timer, which counts whole ms from a
 * start truncated to the ms and fires up to 1 ms early, while Redis floors TIME to the ms: a retry after exactly the
 * wait found 1 ms of its own cooldown left about once in a hundred (a real Redis and setTimeout, 7 ms waits), was
 * refused, and the request failed with the 429 (or fell back) instead of retrying. 1 ms covers that; 1 ms more per
 * second of wait covers a Redis host's clock slewed by NTP (at most 500 ppm) while the worker's timer ran.
 */
export function cooldownRetryMarginMs(waitMs: number): number {
  return 1 + Math.ceil(Math.max(0, waitMs) / 1000);
}

export interface CircuitConfig {
  /** Consecutive failures that open a closed circuit (CB_FAILURE_THRESHOLD). */
  failureThreshold: number;
  /** Failure ratio in the window above which a closed circuit opens (CB_FAILURE_RATE, 0..1). */
  failureRate: number;
  /** Length of the sliding window the failure rate is computed over. */
  windowMs: number;
  /** Calls the window must hold before the failure rate may open the circuit. */
  minVolume: number;
  /** How long an open circuit refuses calls before letting probes through (CB_OPEN_MS). */
  openMs: number;
  /** Concurrent probe calls admitted while half-open. */
  halfOpenMaxProbes: number;
  /**
   * A probe slot frees itself after this long, so a worker that died mid-probe cannot wedge the circuit. The least
   * a slot is held: an acquire may ask for longer (`acquireCircuit`'s `slotMs`), for a call that may run longer.
   */
  probeTtlMs: number;
}

export const DEFAULT_CIRCUIT_CONFIG: Readonly<CircuitConfig> = Object.freeze({
  failureThreshold: 5,
  failureRate: 0.5,
  windowMs: 60_000,
  minVolume: 20,
  openMs: 60_000,
  halfOpenMaxProbes: 1,
  probeTtlMs: 120_000,
});

/**
 * How long a call refused by a half-open circuit whose probe slots are all taken is told to wait (Retry-After). The
 * probes' own calls usually settle the circuit within about a second; `probeTtlMs` only bounds a probe whose worker
 * died, and is no estimate of when a call may go through. The same for `acquireCircuit` and `circuitAvailability`.
 */
export const CIRCUIT_PROBE_RETRY_AFTER_MS = 1_000;

export function assertCircuitConfig(c: CircuitConfig): void {
  const problems: string[] = [];
  const positiveInt = (name: keyof CircuitConfig): void => {
    if (!Number.isInteger(c[name]) || c[name] < 1) {
      problems.push(`${name} must be an integer >= 1, got ${c[name]}`);
    }
  };
  positiveInt('failureThreshold');
  positiveInt('minVolume');
  positiveInt('halfOpenMaxProbes');
  positiveInt('windowMs');
  positiveInt('openMs');
  positiveInt('probeTtlMs');
  if (!(c.failureRate >= 0 && c.failureRate <= 1)) {
    problems.push(`failureRate must be within 0..1, got ${c.failureRate}`);
  }
  if (problems.length > 0) {
    throw new Error(`Invalid circuit breaker config: ${problems.join('; ')}`);
  }
}

/**
 * The window is a ring of this many buckets of windowMs/N each; a bucket counts while its id
 * is among the last N, so the effective window is between (N-1)/N and 1 times windowMs.
 */
export const CIRCUIT_WINDOW_BUCKETS = 10;

export interface CircuitBucket {
  /** floor(now / bucketMs) of the calls counted here; -1 for a never-used slot. */
  id: number;
  ok: number;
  fail: number;
}

export interface CircuitProbe {
  id: string;
  expiresAt: number;
}

export interface CircuitData {
  state: CircuitState;
  consecutiveFailures: number;
  /**
   * When the last failure was recorded while closed (epoch ms); 0 if none since the circuit closed. A success
   * reported late (`recordCircuitSuccesses`) resets the consecutive count only if it happened after this.
   */
  lastFailureAt: number;
  /** When the circuit last opened (epoch ms); 0 if never. */
  openedAt: number;
  /** Ring of CIRCUIT_WINDOW_BUCKETS buckets, slot = bucket id mod N. */
  buckets: readonly CircuitBucket[];
  /** Probe slots taken while half-open. */
  probes: readonly CircuitProbe[];
  /**
   * Until when (epoch ms) the deployment is set aside because its provider asked for a wait (a 429, 503 or 529
   * with Retry-After: `recordCircuitCooldown`); 0 if it never was since the hash was created. Whatever the state:
   * an acquire before it is refused.
   */
  cooldownUntil: number;
  /** The status of the answer that set `cooldownUntil` (429, 503 or 529); 0 with no cooldown. */
  cooldownStatus: number;
}

export type CircuitTransitionReason =
  'consecutive_failures' | 'failure_rate' | 'open_elapsed' | 'probe_succeeded' | 'probe_failed' | 'reset';

export interface CircuitTransition {
  from: CircuitState;
  to: CircuitState;
  reason: CircuitTransitionReason;
  at: number;
}

export interface CircuitPermit {
  allowed: boolean;
  /** State after the acquire (an elapsed open circuit turns half-open here). */
  state: CircuitState;
  /** Set when the call is a half-open probe: pass it back to record/release to free the slot. */
  probeId: string | null;
  /** When refused: how long until a call may be admitted (while probes run, CIRCUIT_PROBE_RETRY_AFTER_MS). */
  retryAfterMs: number | null;
}

export interface CircuitStep {
  data: CircuitData;
  transition: CircuitTransition | null;
}

export interface CircuitAcquireStep extends CircuitStep {
  permit: CircuitPermit;
}

function emptyBuckets(): CircuitBucket[] {
  const buckets: CircuitBucket[] = [];
  for (let i = 0; i < CIRCUIT_WINDOW_BUCKETS; i++) {
    buckets.push({ id: -1, ok: 0, fail: 0 });
  }
  return buckets;
}

export function closedCircuit(): CircuitData {
  return {
    state: 'closed',
    consecutiveFailures: 0,
    lastFailureAt: 0,
    openedAt: 0,
    buckets: emptyBuckets(),
    probes: [],
    cooldownUntil: 0,
    cooldownStatus: 0,
  };
}

function bucketIdAt(now: number, cfg: CircuitConfig): number {
  return Math.floor(now / (cfg.windowMs / CIRCUIT_WINDOW_BUCKETS));
}

/** Calls counted in the sliding window at `now`. */
export function windowCounts(data: CircuitData, now: number, cfg: CircuitConfig): { ok: number; fail: number } {
  const current = bucketIdAt(now, cfg);
  let ok = 0;
  let fail = 0;
  for (const b of data.buckets) {
    if (b.id > current - CIRCUIT_WINDOW_BUCKETS && b.id <= current) {
      ok += b.ok;
      fail += b.fail;
    }
  }
  return { ok, fail };
}

/** The window with `ok` more successes and `fail` more failures in the bucket of `now`. */
function countCalls(data: CircuitData, now: number, cfg: CircuitConfig, ok: number, fail: number): CircuitBucket[] {
  const id = bucketIdAt(now, cfg);
  const slot = id % CIRCUIT_WINDOW_BUCKETS;
  const buckets = data.buckets.slice();
  const old = buckets[slot];
  const base = old.id === id ? old : { id, ok: 0, fail: 0 };
  buckets[slot] = { id: base.id, ok: base.ok + ok, fail: base.fail + fail };
  return buckets;
}

function liveProbes(data: CircuitData, now: number): CircuitProbe[] {
  return data.probes.filter((p) => p.expiresAt > now);
}

/**
 * Whether `probeId` holds a live slot of this half-open round: a result may close or re-open the circuit only then.
 * A probe of an earlier round (the circuit re-opened since, clearing the slots) or one whose slot expired (another
 * probe may have taken the round on) answered for a moment that is over; a caller that merely passed some id neither.
 */
function holdsProbe(data: CircuitData, now: number, probeId: string | null): boolean {
  return probeId !== null && data.probes.some((p) => p.id === probeId && p.expiresAt > now);
}

function opened(data: CircuitData, now: number, reason: CircuitTransitionReason): CircuitStep {
  return {
    data: merged(data, { state: 'open' as const, openedAt: now, probes: [] }),
    transition: { from: data.state, to: 'open', reason, at: now },
  };
}

/**
 * Asks to make a call. While half-open at most `halfOpenMaxProbes` calls hold a probe slot, each for
 * max(`probeTtlMs`, `slotMs`): `slotMs` is how long the caller's call may run (its provider's timeout and a margin).
 * A slot that expired under a probe still running admitted one more probe than configured into a provider that was
 * failing: a deployment with a timeout above CB_PROBE_TTL_MS got a second probe while its first still waited.
 */
export function acquireCircuit(
  data: CircuitData,
  now: number,
  cfg: CircuitConfig,
  probeId: string,
  slotMs = 0,
): CircuitAcquireStep {
  if (now < data.cooldownUntil) {
    // Its provider asked for a wait: no call, and no open -> half_open either (no probe is sent into the wait).
    const openLeft = data.state === 'open' ? data.openedAt + cfg.openMs - now : 0;
    return {
      data,
      transition: null,
      permit: {
        allowed: false,
        state: data.state,
        probeId: null,
        retryAfterMs: Math.max(data.cooldownUntil - now, openLeft),
      },
    };
  }
  let current = data;
  let transition: CircuitTransition | null = null;
  if (current.state === 'open') {
    const until = current.openedAt + cfg.openMs;
    if (now < until) {
      return {
        data,
        transition: null,
        permit: { allowed: false, state: 'open', probeId: null, retryAfterMs: until - now },
      };
    }
    current = merged(current, { state: 'half_open' as const, probes: [] });
    transition = { from: 'open', to: 'half_open', reason: 'open_elapsed', at: now };
  }
  if (current.state === 'half_open') {
    const probes = liveProbes(current, now);
    if (probes.length >= cfg.halfOpenMaxProbes) {
      return {
        data: merged(current, { probes }),
        transition,
        permit: { allowed: false, state: 'half_open', probeId: null, retryAfterMs: CIRCUIT_PROBE_RETRY_AFTER_MS },
      };
    }
    probes.push({ id: probeId, expiresAt: now + Math.max(cfg.probeTtlMs, slotMs) });
    return {
      data: merged(current, { probes }),
      transition,
      permit: { allowed: true, state: 'half_open', probeId, retryAfterMs: null },
    };
  }
  return { data, transition: null, permit: { allowed: true, state: 'closed', probeId: null, retryAfterMs: null } };
}

/**
 * A successful call. While half-open only the success of a probe holding a live slot of this round closes the
 * circuit (and clears the window, so old failures cannot re-trip it at once); a late success of a call admitted
 * before the circuit opened, or of a probe of an earlier round or whose slot expired, proves nothing about now and is
 * ignored (`holdsProbe`).
 */
export function recordCircuitSuccess(
  data: CircuitData,
  now: number,
  cfg: CircuitConfig,
  probeId: string | null,
): CircuitStep {
  switch (data.state) {
    case 'closed':
      return { data: recordCircuitSuccesses(data, now, cfg, 1, now), transition: null };
    case 'half_open':
      if (!holdsProbe(data, now, probeId)) {
        return { data, transition: null };
      }
      return {
        data: closedCircuit(),
        transition: { from: 'half_open', to: 'closed', reason: 'probe_succeeded', at: now },
      };
    case 'open':
      return { data, transition: null };
  }
}

/**
 * `count` successful calls of a closed circuit reported together at `now`, the latest of which ended at `at`
 * (<= now): a worker batches the successes of calls that were not probes instead of writing each one. They
 * count in the window at `now`. They reset the consecutive failures only if they ended after the last recorded
 * failure: a success reported late must not break a failure streak that began after it. In any other state
 * they change nothing, as a late success of a call admitted before the circuit opened (`recordCircuitSuccess`).
 */
export function recordCircuitSuccesses(
  data: CircuitData,
  now: number,
  cfg: CircuitConfig,
  count: number,
  at: number,
): CircuitData {
  if (data.state !== 'closed') {
    return data;
  }
  const buckets = countCalls(data, now, cfg, count, 0);
  return at >= data.lastFailureAt ? merged(data, { consecutiveFailures: 0, buckets }) : merged(data, { buckets });
}

/**
 * A provider-side failure. The failure of a probe holding a live slot of this round re-opens the circuit for another
 * openMs; a late one (`holdsProbe`) is ignored, as a late success is.
 */
export function recordCircuitFailure(
  data: CircuitData,
  now: number,
  cfg: CircuitConfig,
  probeId: string | null,
): CircuitStep {
  switch (data.state) {
    case 'closed': {
      const next: CircuitData = merged(data, {
        consecutiveFailures: data.consecutiveFailures + 1,
        lastFailureAt: now,
        buckets: countCalls(data, now, cfg, 0, 1),
      });
      if (next.consecutiveFailures >= cfg.failureThreshold) {
        return opened(next, now, 'consecutive_failures');
      }
      const { ok, fail } = windowCounts(next, now, cfg);
      const total = ok + fail;
      if (total >= cfg.minVolume && fail / total > cfg.failureRate) {
        return opened(next, now, 'failure_rate');
      }
      return { data: next, transition: null };
    }
    case 'half_open':
      return holdsProbe(data, now, probeId) ? opened(data, now, 'probe_failed') : { data, transition: null };
    case 'open':
      return { data, transition: null };
  }
}

/**
 * Its provider asked for a wait of `waitMs` with a status (`circuitCooldownOf`): the deployment
 * is set aside until then, at most `openMs` (no longer than the breaker would set a failing one aside: a Retry-After
 * of an hour, or a wrong one, costs at most one call per open period), and a later end kept. It changes nothing
 * else: no failure counted (the provider answered, and said when it will take calls again), no streak broken, and
 * a probe's slot is freed (it showed nothing of the provider's health either way).
 */
export function recordCircuitCooldown(
  data: CircuitData,
  now: number,
  cfg: CircuitConfig,
  probeId: string | null,
  waitMs: number,
  status: number,
): CircuitData {
  const until = now + cooldownHeldMs(waitMs, cfg.openMs);
  const released = probeId === null ? data : releaseCircuitProbe(data, probeId);
  return until > data.cooldownUntil ? merged(released, { cooldownUntil: until, cooldownStatus: status }) : released;
}

/**
 * How long a provider's asked-for wait of `waitMs` sets its deployment aside (`recordCircuitCooldown`): the wait, at
 * most `openMs`. What a request that met the wait tells its client must be this too, not the provider's own figure
 * (a day), while every worker calls the provider again after `openMs`.
 */
export function cooldownHeldMs(waitMs: number, openMs: number): number {
  return Math.min(Math.max(0, Math.ceil(waitMs)), openMs);
}

/** Frees a probe slot without judging the provider (the call ended in a client-side error or was cancelled). */
export function releaseCircuitProbe(data: CircuitData, probeId: string): CircuitData {
  const probes = data.probes.filter((p) => p.id !== probeId);
  return probes.length === data.probes.length ? data : merged(data, { probes });
}

/**
 * The cooldown running at `now` (`recordCircuitCooldown`): how long it has left and the status that asked for it;
 * null when none runs. A reset ends it with the circuit, and says so: a cooling deployment's circuit is closed, so
 * its transition (none, closed -> closed) alone reported a reset that changed nothing while it ended the wait.
 */
export function runningCooldown(data: CircuitData, now: number): { remainingMs: number; status: number } | null {
  return now < data.cooldownUntil ? { remainingMs: data.cooldownUntil - now, status: data.cooldownStatus } : null;
}

export function resetCircuit(data: CircuitData, now: number): CircuitStep {
  return {
    data: closedCircuit(),
    transition: data.state === 'closed' ? null : { from: data.state, to: 'closed', reason: 'reset', at: now },
  };
}

export interface CircuitAvailability {
  /** Whether an acquire now could be admitted (open circuits past openMs admit probes). */
  available: boolean;
  retryAfterMs: number | null;
  /**
   * Set when only a cooldown refuses (the circuit itself would admit): the status its provider answered (429, 503,
   * 529), for the answer of a request that nothing else could serve.
   */
  cooldownStatus?: number;
}

/**
 * Cheap read-side check used to filter candidates before ordering; `acquire` stays the
 * authority (another worker may take the last probe slot in between).
 */
export function circuitAvailability(
  state: CircuitState,
  openedAt: number,
  probesInFlight: number,
  now: number,
  cfg: CircuitConfig,
  cooldown: { until: number; status: number } = { until: 0, status: 0 },
): CircuitAvailability {
  const circuit = circuitStateAvailability(state, openedAt, probesInFlight, now, cfg);
  if (now >= cooldown.until) {
    return circuit;
  }
  const wait = Math.max(cooldown.until - now, circuit.retryAfterMs ?? 0);
  return circuit.available
    ? { available: false, retryAfterMs: wait, cooldownStatus: cooldown.status }
    : { available: false, retryAfterMs: wait };
}

function circuitStateAvailability(
  state: CircuitState,
  openedAt: number,
  probesInFlight: number,
  now: number,
  cfg: CircuitConfig,
): CircuitAvailability {
  switch (state) {
    case 'closed':
      return { available: true, retryAfterMs: null };
    case 'open': {
      const until = openedAt + cfg.openMs;
      return now < until ? { available: false, retryAfterMs: until - now } : { available: true, retryAfterMs: null };
    }
    case 'half_open':
      return probesInFlight < cfg.halfOpenMaxProbes
        ? { available: true, retryAfterMs: null }
        : { available: false, retryAfterMs: CIRCUIT_PROBE_RETRY_AFTER_MS };
  }
}
