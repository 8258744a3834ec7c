import { randomUUID } from 'node:crypto';
import {
  assertCircuitConfig,
  CIRCUIT_STATES,
  CIRCUIT_WINDOW_BUCKETS,
  circuitAvailability,
  DAY_MS,
  type CircuitBucket,
  type CircuitConfig,
  type CircuitData,
  type CircuitPermit,
  type CircuitState,
  type CircuitTransition,
  type CircuitTransitionReason,
} from '@aigw/core';
import { CIRCUIT_LUA } from './circuit-breaker.lua';
import { RedisClockOffset } from './redis-clock';
import { RedisScript, clockArg, type RedisClient } from './redis-script';

const script = new RedisScript(CIRCUIT_LUA);

/** State keys are garbage-collected after a day without writes (deployments come and go). */
const MIN_KEY_TTL_MS = DAY_MS;

export interface CircuitAcquireResult extends CircuitPermit {
  transition: CircuitTransition | null;
}

export interface CircuitRecordResult {
  state: CircuitState;
  transition: CircuitTransition | null;
}

export interface CircuitResetResult extends CircuitRecordResult {
  /**
   * The cooldown the reset ended (`runningCooldown`, by the Redis clock): ms it had left and the status that asked
   * for it; null when none ran. A cooling deployment's circuit is closed: its transition alone does not show it.
   */
  endedCooldown: { remainingMs: number; status: number } | null;
}

/** What the read-side check sees for one deployment. */
export interface CircuitStatus {
  state: CircuitState;
  openedAt: number;
  probesInFlight: number;
  /** Whether an acquire now could be admitted (see `circuitAvailability`). */
  available: boolean;
  retryAfterMs: number | null;
  /** Set when only a cooldown its provider asked for refuses: the status it answered (see `circuitAvailability`). */
  cooldownStatus?: number;
  /**
   * Set while a cooldown runs, whatever the state (an open circuit may be cooling too): until when (epoch ms, the
   * Redis clock that wrote it) its provider asked to be left alone. For the views and metrics that say why traffic
   * left the deployment; routing reads `available` and `cooldownStatus`.
   */
  cooldownUntil?: number;
}

export interface CircuitBreakerStoreOptions {
  /**
   * Epoch-ms clock for tests. Without it the scripts use the Redis server clock, so workers
   * with skewed clocks still agree on when a circuit re-opens or a probe slot expires.
   */
  clock?: () => number;
  /**
   * Where the Redis clock offset is kept (see RedisClockOffset): one shared by the stores of a process that learns it
   * by `TIME` (the api-gateway). Default: the store's own, learnt from its script replies.
   */
  clockOffset?: RedisClockOffset;
  /** Called after every state change this process caused (log it, count it). Must not throw. */
  onTransition?: (deploymentId: string, transition: CircuitTransition) => void;
}

type Op = 'acquire' | 'success' | 'failure' | 'cooldown' | 'release' | 'reset';

function isState(s: unknown): s is CircuitState {
  return typeof s === 'string' && (CIRCUIT_STATES as readonly string[]).includes(s);
}

/**
 * Circuit breakers shared by every worker: state lives in Redis and every transition is one
 * atomic Lua call (one round trip per acquire or record).
 *
 * Usage per attempt: `acquire` before calling a deployment (skip it when not allowed); then
 * exactly one of `recordSuccess`, `recordFailure` (provider-side failures only, see
 * `circuitOutcomeOf`) or `release` (any other ending), passing the permit's `probeId`. Successes
 * of calls that were not probes may instead be reported later and together (`recordSuccesses`).
 */
export class CircuitBreakerStore {
  private readonly configArgs: (string | number)[];
  /**
   * The Redis server clock minus this process's, as the latest prompt script reply showed it (each carries the
   * script's `now`), or a `TIME` sample of the shared offset: `states` reads the times the scripts wrote (opened at,
   * a cooldown's end) on the clock that wrote them, at no extra command.
   */
  private readonly clockOffset: RedisClockOffset;

  constructor(
    private readonly redis: RedisClient,
    private readonly keyPrefix: string,
    private readonly config: CircuitConfig,
    private readonly options: CircuitBreakerStoreOptions = {},
  ) {
    assertCircuitConfig(config);
    this.clockOffset = options.clockOffset ?? new RedisClockOffset();
    const keyTtlMs = Math.max(MIN_KEY_TTL_MS, 2 * (config.openMs + config.windowMs + config.probeTtlMs));
    this.configArgs = [
      config.failureThreshold,
      config.failureRate,
      config.windowMs,
      config.minVolume,
      config.openMs,
      config.halfOpenMaxProbes,
      config.probeTtlMs,
      keyTtlMs,
    ];
  }

  /**
   * Now in epoch ms on the clock the scripts write circuit times with: the Redis server's, as this process's clock
   * corrected by the latest prompt script reply shows it (uncorrected before any), or the injected clock.
   */
  now(): number {
    return this.options.clock?.() ?? this.clockOffset.now();
  }

  /** The hash tag keeps both keys of a deployment in one Redis Cluster slot, as the script needs. */
  private keys(deploymentId: string): [string, string] {
    const base = `${this.keyPrefix}cb:{${deploymentId}}`;
    return [base, `${base}:probes`];
  }

  private async run(deploymentId: string, op: Op, probeId: string, ...extra: number[]): Promise<CircuitAcquireResult> {
    const { result } = await this.runRaw(deploymentId, op, probeId, ...extra);
    return result;
  }

  /** `run`, with the reply as it came (a reset's has the ended cooldown after the usual eight fields). */
  private async runRaw(
    deploymentId: string,
    op: Op,
    probeId: string,
    ...extra: number[]
  ): Promise<{ result: CircuitAcquireResult; raw: unknown[] }> {
    const sent = Date.now();
    const raw = await script.run(this.redis, this.keys(deploymentId), [
      clockArg(this.options.clock),
      op,
      probeId,
      ...this.configArgs,
      ...extra,
    ]);
    const received = Date.now();
    const result = this.parse(deploymentId, raw);
    if (this.options.clock === undefined) {
      this.clockOffset.sample(sent, Number((raw as unknown[])[7]), received);
    }
    if (result.transition !== null) {
      this.options.onTransition?.(deploymentId, result.transition);
    }
    return { result, raw: raw as unknown[] };
  }

  private parse(deploymentId: string, raw: unknown): CircuitAcquireResult {
    if (!Array.isArray(raw) || (raw.length !== 8 && raw.length !== 10)) {
      throw new Error(`Unexpected circuit script reply for ${deploymentId}`);
    }
    const [allowed, state, probeId, retryAfter, from, to, reason, at] = raw.slice(0, 8) as [
      number,
      string,
      string,
      number,
      string,
      string,
      string,
      number,
    ];
    if (!isState(state)) {
      throw new Error(`Unexpected circuit state "${state}" for ${deploymentId}`);
    }
    const transition: CircuitTransition | null =
      isState(from) && isState(to) ? { from, to, reason: reason as CircuitTransitionReason, at } : null;
    return {
      allowed: allowed === 1,
      state,
      probeId: probeId === '' ? null : probeId,
      retryAfterMs: retryAfter < 0 ? null : retryAfter,
      transition,
    };
  }

  /**
   * Asks to call a deployment. While half-open at most halfOpenMaxProbes callers get a probe permit, its slot held
   * max(probeTtlMs, `slotMs`): pass how long the call may run (see `acquireCircuit`).
   */
  acquire(deploymentId: string, slotMs = 0): Promise<CircuitAcquireResult> {
    if (!(slotMs >= 0)) {
      throw new Error(`acquire needs a slot time >= 0, got ${slotMs}`);
    }
    return this.run(deploymentId, 'acquire', randomUUID(), Math.ceil(slotMs));
  }

  async recordSuccess(deploymentId: string, probeId: string | null = null): Promise<CircuitRecordResult> {
    const { state, transition } = await this.run(deploymentId, 'success', probeId ?? '');
    return { state, transition };
  }

  /**
   * `count` successes of calls that were not probes, reported together; the latest ended `ageMs` ago, as the
   * caller's own clock measured it (see `recordCircuitSuccesses`). Counts nothing unless the circuit is closed.
   */
  async recordSuccesses(deploymentId: string, count: number, ageMs: number): Promise<CircuitRecordResult> {
    if (!Number.isInteger(count) || count < 1 || !(ageMs >= 0)) {
      throw new Error(`recordSuccesses needs a count >= 1 and an age >= 0, got ${count} and ${ageMs}`);
    }
    const { state, transition } = await this.run(deploymentId, 'success', '', count, Math.round(ageMs));
    return { state, transition };
  }

  /** A provider-side failure (callers filter with `circuitOutcomeOf`). */
  async recordFailure(deploymentId: string, probeId: string | null = null): Promise<CircuitRecordResult> {
    const { state, transition } = await this.run(deploymentId, 'failure', probeId ?? '');
    return { state, transition };
  }

  /**
   * Its provider asked for a wait of `waitMs` (a 429, 503 or 529 with Retry-After, `circuitCooldownOf`): the
   * deployment is refused by every worker until then (at most openMs), without counting a failure; frees the
   * call's probe slot if it had one (`recordCircuitCooldown`).
   */
  async recordCooldown(
    deploymentId: string,
    probeId: string | null,
    waitMs: number,
    status: number,
  ): Promise<CircuitRecordResult> {
    if (!(waitMs > 0) || !Number.isInteger(status)) {
      throw new Error(`recordCooldown needs a wait > 0 and a status, got ${waitMs} and ${status}`);
    }
    const { state, transition } = await this.run(deploymentId, 'cooldown', probeId ?? '', Math.ceil(waitMs), status);
    return { state, transition };
  }

  /** Ends a call that says nothing about the provider's health; frees its probe slot if it had one. */
  async release(deploymentId: string, probeId: string | null): Promise<CircuitRecordResult> {
    const { state, transition } = await this.run(deploymentId, 'release', probeId ?? '');
    return { state, transition };
  }

  /** Drops a deleted deployment's circuit (its state and probes): one re-created with the same id starts closed. */
  async forget(deploymentId: string): Promise<void> {
    // Both keys share the deployment's hash tag, so this is one command on Redis Cluster too.
    await this.redis.del(...this.keys(deploymentId));
  }

  /** Admin reset: closed, counters, probes and cooldown cleared; says which cooldown it ended, if one ran. */
  async reset(deploymentId: string): Promise<CircuitResetResult> {
    const { result, raw } = await this.runRaw(deploymentId, 'reset', '');
    const [remainingMs, status] = [Number(raw[8]), Number(raw[9])];
    return {
      state: result.state,
      transition: result.transition,
      endedCooldown: remainingMs > 0 ? { remainingMs, status } : null,
    };
  }

  /**
   * Read-only status of many deployments, for filtering candidates before ordering: one round trip (one HMGET
   * each, sent in one turn), and a second one only for half-open circuits, to count their probes in flight (the
   * probe set is empty in every other state). Compares times with the local clock corrected to the Redis clock by the
   * latest script reply (or with the injected clock), read when the states have come back; `acquire` remains the
   * authority.
   *
   * `via` sends the HMGETs on another connection: a worker's blocking connection, behind the BZPOPMIN that waits
   * for the job they are for (they run when it is served). The probe counts always go on this store's connection,
   * since by then the blocking one may be blocked again.
   */
  async states(
    deploymentIds: readonly string[],
    via: Pick<RedisClient, 'hmget'> = this.redis,
  ): Promise<Map<string, CircuitStatus>> {
    const out = new Map<string, CircuitStatus>();
    if (deploymentIds.length === 0) {
      return out;
    }
    // The cooldown's fields come in the same HMGET: no command more for them on the request path.
    const fields = await this.each(deploymentIds, (id) => via.hmget(this.keys(id)[0], 'st', 'oa', 'cu', 'cs'));
    // On the Redis clock, which wrote the times read: a worker whose clock was minutes behind saw circuits open
    // that much longer.
    const now = this.now();
    const halfOpen = deploymentIds.filter((_, i) => fields[i][0] === 'half_open');
    const probes = new Map<string, number>();
    if (halfOpen.length > 0) {
      const counts = await this.each(halfOpen, (id) => this.redis.zcount(this.keys(id)[1], `(${now}`, '+inf'));
      halfOpen.forEach((id, i) => probes.set(id, counts[i]));
    }
    deploymentIds.forEach((id, i) => {
      const [st, oa, cu, cs] = fields[i];
      const state = isState(st) ? st : 'closed';
      const openedAt = oa === null ? 0 : Number(oa);
      const probesInFlight = probes.get(id) ?? 0;
      const cooldown = { until: cu === null ? 0 : Number(cu), status: cs === null ? 0 : Number(cs) };
      const { available, retryAfterMs, cooldownStatus } = circuitAvailability(
        state,
        openedAt,
        probesInFlight,
        now,
        this.config,
        cooldown,
      );
      const status: CircuitStatus = { state, openedAt, probesInFlight, available, retryAfterMs };
      if (cooldownStatus !== undefined) {
        status.cooldownStatus = cooldownStatus;
      }
      if (now < cooldown.until) {
        status.cooldownUntil = cooldown.until;
      }
      out.set(id, status);
    });
    return out;
  }

  /**
   * One command per deployment, all issued in this turn: a connection corked per turn (`corkEveryCommand`, or the
   * worker's blocking connection behind its BZPOPMIN) sends them in one write. The replies in order, or the first
   * failure. Not an ioredis pipeline: each copies every custom command of its connection (BullMQ's blocking
   * connection has dozens) into an object that, sent behind a wait, lived long enough to reach the old generation:
   * at one connection most of what a router-worker promoted (docs/benchmarks.md, session 23).
   */
  private each<T>(deploymentIds: readonly string[], command: (deploymentId: string) => Promise<T>): Promise<T[]> {
    return Promise.all(
      deploymentIds.map((id) =>
        command(id).catch((err: unknown) => {
          throw new Error(`Reading the circuit state of ${id} failed`, { cause: err });
        }),
      ),
    );
  }

  /** The full stored state of one deployment (admin views, tests). */
  async snapshot(deploymentId: string): Promise<CircuitData> {
    const [hkey, pkey] = this.keys(deploymentId);
    const [hash, probes] = await Promise.all([
      this.redis.hgetall(hkey),
      this.redis.zrange(pkey, 0, -1, 'WITHSCORES'),
    ]).catch((err: unknown) => {
      throw new Error(`Reading the circuit of ${deploymentId} failed`, { cause: err });
    });
    const buckets: CircuitBucket[] = [];
    for (let i = 0; i < CIRCUIT_WINDOW_BUCKETS; i++) {
      const id = hash[`b${i}`];
      buckets.push(
        id === undefined
          ? { id: -1, ok: 0, fail: 0 }
          : { id: Number(id), ok: Number(hash[`s${i}`]), fail: Number(hash[`f${i}`]) },
      );
    }
    const probeList: CircuitData['probes'][number][] = [];
    for (let i = 0; i < probes.length; i += 2) {
      probeList.push({ id: probes[i], expiresAt: Number(probes[i + 1]) });
    }
    return {
      state: isState(hash.st) ? hash.st : 'closed',
      consecutiveFailures: Number(hash.cf ?? 0),
      lastFailureAt: Number(hash.lf ?? 0),
      openedAt: Number(hash.oa ?? 0),
      buckets,
      probes: probeList,
      cooldownUntil: Number(hash.cu ?? 0),
      cooldownStatus: Number(hash.cs ?? 0),
    };
  }
}
