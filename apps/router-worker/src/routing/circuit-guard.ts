import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { CircuitCooldown, CircuitTransition } from '@aigw/core';
import { REDIS, RedisErrors, RedisKeys } from '@aigw/platform';
import { CircuitBreakerStore, routingKeyPrefix, type CircuitStatus } from '@aigw/routing';
import type { Redis } from 'ioredis';
import { WorkerMetrics } from '../metrics/worker-metrics';
import { CircuitReadAhead } from './circuit-read-ahead';
import { FlushSchedule } from './flush-schedule';
import { ROUTING_CONFIG, type RoutingConfig } from './routing-config';

export interface CallPermit {
  allowed: boolean;
  /** Pass back to `settle`: set when the call is a half-open probe. */
  probeId: string | null;
  /** When refused: how long until the circuit may admit a call. */
  retryAfterMs: number | null;
}

/**
 * How a call ended, as the breaker sees it (`circuitOutcomeOf` for failures); `cooldown`: its provider asked for a
 * wait (`circuitCooldownOf`), passed to `settle` with it.
 */
export type CallVerdict = 'success' | 'failure' | 'neutral' | 'cooldown';

/** What the attempt loop needs from the breaker. */
export interface CircuitPort {
  /** `slotMs`: how long the call may run; a half-open probe's slot is held at least that long (`acquireCircuit`). */
  acquire(deploymentId: string, slotMs?: number): Promise<CallPermit>;
  /**
   * Reports how a call ended. Resolves true when a failure left the circuit open (this one opened it, or it already
   * was): the deployment would refuse a retry, so the caller need not wait for one. A `cooldown` verdict needs its
   * `cooldown`, and resolves false (a retry after the wait is admitted).
   */
  settle(
    deploymentId: string,
    probeId: string | null,
    verdict: CallVerdict,
    cooldown?: CircuitCooldown,
  ): Promise<boolean>;
}

/** Successes of calls that were not probes are written together at most this often while they keep coming. */
export const CIRCUIT_SUCCESS_FLUSH_MS = 100;
/** How long such a success may wait at most to be written, when no other follows it. */
export const CIRCUIT_SUCCESS_MAX_DELAY_MS = 250;

/** Successes of one deployment not written yet. */
interface PendingSuccesses {
  count: number;
  /** Monotonic ms when the latest of them ended. */
  lastAt: number;
}

/**
 * The fleet-wide circuit breakers (Redis), as routing uses them: transitions are logged and counted, and a
 * Redis failure never fails a request. Without Redis the breaker cannot know anything, so it lets calls
 * through (a possibly-sick provider beats a certain error); the queue itself needs Redis anyway.
 *
 * Successes of calls that were not probes are written in batches (FlushSchedule): at once after a quiet spell,
 * else one script call per deployment at most every CIRCUIT_SUCCESS_FLUSH_MS instead of one per request. They
 * only add to the failure-rate window and end a failure streak, and neither needs to be seen by the other workers
 * at once. Such a success ends only the failures recorded before it ended (the store compares with its age), and
 * this worker's own pending successes are written ahead of its next failure of that deployment, so a failure is
 * judged with every success this worker saw before it. The other workers' successes reach the failure-rate
 * window up to CIRCUIT_SUCCESS_MAX_DELAY_MS late. A probe's success closes the circuit, so it is written at once.
 */
@Injectable()
export class CircuitGuard implements CircuitPort, OnApplicationShutdown {
  private readonly logger = new Logger('CircuitBreaker');
  private readonly store: CircuitBreakerStore;
  private readonly ahead = new CircuitReadAhead(
    (ids) => this.states(ids),
    (ids, via) => this.store.states(ids, via),
  );
  private successes = new Map<string, PendingSuccesses>();
  /** The deployments of the catalog in force (`retain`); null until the first reload: all are recorded. */
  private known: ReadonlySet<string> | null = null;
  /** Failures, probe results and releases sent to Redis and not answered yet (`settled` waits for them). */
  private readonly recording = new Set<Promise<unknown>>();
  private readonly writes = new FlushSchedule(CIRCUIT_SUCCESS_FLUSH_MS, CIRCUIT_SUCCESS_MAX_DELAY_MS, () =>
    this.writeSuccesses(),
  );

  constructor(
    @Inject(REDIS) redis: Redis,
    keys: RedisKeys,
    @Inject(ROUTING_CONFIG) config: RoutingConfig,
    private readonly metrics: WorkerMetrics,
    private readonly errors: RedisErrors,
  ) {
    this.store = new CircuitBreakerStore(redis, routingKeyPrefix(keys.prefix), config.circuit, {
      onTransition: (id, t) => this.onTransition(id, t),
    });
  }

  /** Read-side status of many deployments in one round trip; empty (all closed) when Redis fails. */
  async states(deploymentIds: readonly string[]): Promise<Map<string, CircuitStatus>> {
    try {
      return await this.store.states(deploymentIds);
    } catch (err) {
      this.errors.report('circuit_read', err);
      return new Map();
    }
  }

  /**
   * Sends the read of recently routed deployments' circuits behind an idle worker's wake fetch, on its blocking
   * connection `via` (CircuitReadAhead); returns how to attach the read to the job's request, or null.
   */
  readAhead(via: Redis): ((request: object) => void) | null {
    return this.ahead.start(via);
  }

  /** `states` for routing one request: served by the read started with its fetch when that covers `ids`. */
  statesFor(request: object, deploymentIds: readonly string[]): Promise<Map<string, CircuitStatus>> {
    return this.ahead.states(request, deploymentIds);
  }

  /** Now on the clock circuit times are written with (Redis's: `CircuitBreakerStore.now`). */
  now(): number {
    return this.store.now();
  }

  /** Like `states` but failing loudly: for the metrics scrape, which keeps its last values instead. */
  statesOrThrow(deploymentIds: readonly string[]): Promise<Map<string, CircuitStatus>> {
    return this.store.states(deploymentIds);
  }

  async acquire(deploymentId: string, slotMs = 0): Promise<CallPermit> {
    try {
      const { allowed, probeId, retryAfterMs } = await this.store.acquire(deploymentId, slotMs);
      return { allowed, probeId, retryAfterMs };
    } catch (err) {
      this.errors.report('circuit_acquire', err);
      return { allowed: true, probeId: null, retryAfterMs: null };
    }
  }

  async settle(
    deploymentId: string,
    probeId: string | null,
    verdict: CallVerdict,
    cooldown?: CircuitCooldown,
  ): Promise<boolean> {
    if (this.known !== null && !this.known.has(deploymentId)) {
      // A call to a deployment deleted while it ran: its circuit was forgotten and must stay so (one Set lookup).
      return false;
    }
    const recorded = this.record(deploymentId, probeId, verdict, cooldown);
    if (verdict === 'success' && probeId === null) {
      return recorded;
    }
    this.recording.add(recorded);
    try {
      return await recorded;
    } finally {
      this.recording.delete(recorded);
    }
  }

  private async record(
    deploymentId: string,
    probeId: string | null,
    verdict: CallVerdict,
    cooldown: CircuitCooldown | undefined,
  ): Promise<boolean> {
    try {
      switch (verdict) {
        case 'success':
          if (probeId === null) {
            this.countSuccess(deploymentId);
          } else {
            await this.store.recordSuccess(deploymentId, probeId);
          }
          return false;
        case 'failure': {
          // Sent in the same turn, so Redis runs them in this order: the failure is judged with these successes.
          const earlier = this.takeSuccesses(deploymentId);
          const [, recorded] = await Promise.all([earlier, this.store.recordFailure(deploymentId, probeId)]);
          return recorded.state === 'open';
        }
        case 'cooldown':
          // One script call, as the failure it replaces: the request path sends no command more for a cooldown.
          if (cooldown === undefined) {
            throw new Error('a cooldown verdict needs its wait');
          }
          await this.store.recordCooldown(deploymentId, probeId, cooldown.ms, cooldown.status);
          return false;
        case 'neutral':
          // Only a probe slot needs freeing; a closed circuit records nothing for a neutral ending.
          if (probeId !== null) {
            await this.store.release(deploymentId, probeId);
          }
          return false;
      }
    } catch (err) {
      this.errors.report('circuit_record', err);
      return false;
    }
  }

  /**
   * Drops what this worker holds of deployments no longer in the catalog (pending successes, read-ahead ids), so a
   * late flush does not write a deleted deployment's circuit back after the admin API removed it; a call to one of
   * them that ends later records nothing.
   */
  retain(deploymentIds: ReadonlySet<string>): void {
    this.known = deploymentIds;
    for (const id of this.successes.keys()) {
      if (!deploymentIds.has(id)) {
        this.successes.delete(id);
      }
    }
    this.ahead.retain(deploymentIds);
  }

  /**
   * Resolves once every write sent so far has been answered: the pending successes (written now) and the failures
   * and probe results in flight. What `retain` dropped is then no longer on its way to Redis.
   */
  async settled(): Promise<void> {
    await Promise.all([this.flush(), ...this.recording]);
  }

  /** Writes the pending successes (also at shutdown, before Redis closes); resolves when they are written. */
  flush(): Promise<void> {
    return this.writes.flush();
  }

  onApplicationShutdown(): void {
    this.writes.stop();
  }

  private countSuccess(deploymentId: string): void {
    const pending = this.successes.get(deploymentId);
    if (pending === undefined) {
      this.successes.set(deploymentId, { count: 1, lastAt: performance.now() });
    } else {
      pending.count++;
      pending.lastAt = performance.now();
    }
    this.writes.added();
  }

  /** Starts writing this worker's pending successes of one deployment, if it has any; rejects if that fails. */
  private takeSuccesses(deploymentId: string): Promise<unknown> | undefined {
    const pending = this.successes.get(deploymentId);
    if (pending === undefined) {
      return undefined;
    }
    this.successes.delete(deploymentId);
    return this.store.recordSuccesses(deploymentId, pending.count, performance.now() - pending.lastAt);
  }

  /** A failed write loses its successes: they only weigh in the failure rate, and Redis is failing anyway. */
  private async writeSuccesses(): Promise<void> {
    if (this.successes.size === 0) {
      return;
    }
    const batch = this.successes;
    this.successes = new Map();
    const now = performance.now();
    await Promise.all(
      [...batch].map(([id, { count, lastAt }]) =>
        this.store
          .recordSuccesses(id, count, now - lastAt)
          .catch((err: unknown) => this.errors.report('circuit_record', err)),
      ),
    );
  }

  private onTransition(deploymentId: string, t: CircuitTransition): void {
    this.metrics.circuitTransitions.inc({ deployment: deploymentId, from: t.from, to: t.to });
    const line = `circuit ${deploymentId}: ${t.from} -> ${t.to} (${t.reason})`;
    if (t.to === 'open') {
      this.logger.warn(line);
    } else {
      this.logger.log(line);
    }
  }
}
