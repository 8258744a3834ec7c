import { Inject, Injectable, Logger } from '@nestjs/common';
import type { CircuitTransition } from '@aigw/core';
import { REDIS, RedisErrors, RedisKeys } from '@aigw/platform';
import { CircuitBreakerStore, routingKeyPrefix, type CircuitStatus } from '@aigw/routing';
import type { Redis } from 'ioredis';
import { WorkerMetrics } from '../metrics/worker-metrics';
import { CircuitReadAhead } from './circuit-read-ahead';
import { ROUTING_CONFIG, type RoutingConfig } from './routing-config';

export interface CallPermit {
  allowed: boolean;
  /** Pass back to `settle`: set when the call is a half-open probe. */
  probeId: string | null;
  /** When refused: how long until the circuit may admit a call. */
  retryAfterMs: number | null;
}

/** How a call ended, as the breaker sees it (`circuitOutcomeOf` for failures). */
export type CallVerdict = 'success' | 'failure' | 'neutral';

/** What the attempt loop needs from the breaker. */
export interface CircuitPort {
  acquire(deploymentId: string): Promise<CallPermit>;
  settle(deploymentId: string, probeId: string | null, verdict: CallVerdict): Promise<void>;
}

/**
 * The fleet-wide circuit breakers (Redis), as routing uses them: transitions are logged and counted, and a
 * Redis failure never fails a request. Without Redis the breaker cannot know anything, so it lets calls
 * through (a possibly-sick provider beats a certain error); the queue itself needs Redis anyway.
 */
@Injectable()
export class CircuitGuard implements CircuitPort {
  private readonly logger = new Logger('CircuitBreaker');
  private readonly store: CircuitBreakerStore;
  private readonly ahead = new CircuitReadAhead((ids) => this.states(ids));

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
   * Starts reading the circuits of recently routed deployments while an idle worker fetches its job
   * (CircuitReadAhead); returns how to attach the read to the job's request, or null.
   */
  readAhead(): ((request: object) => void) | null {
    return this.ahead.start();
  }

  /** `states` for routing one request: served by the read started with its fetch when that covers `ids`. */
  statesFor(request: object, deploymentIds: readonly string[]): Promise<Map<string, CircuitStatus>> {
    return this.ahead.states(request, deploymentIds);
  }

  /** Like `states` but failing loudly: for the metrics scrape, which keeps its last values instead. */
  statesOrThrow(deploymentIds: readonly string[]): Promise<Map<string, CircuitStatus>> {
    return this.store.states(deploymentIds);
  }

  async acquire(deploymentId: string): Promise<CallPermit> {
    try {
      const { allowed, probeId, retryAfterMs } = await this.store.acquire(deploymentId);
      return { allowed, probeId, retryAfterMs };
    } catch (err) {
      this.errors.report('circuit_acquire', err);
      return { allowed: true, probeId: null, retryAfterMs: null };
    }
  }

  async settle(deploymentId: string, probeId: string | null, verdict: CallVerdict): Promise<void> {
    try {
      switch (verdict) {
        case 'success':
          await this.store.recordSuccess(deploymentId, probeId);
          return;
        case 'failure':
          await this.store.recordFailure(deploymentId, probeId);
          return;
        case 'neutral':
          // Only a probe slot needs freeing; a closed circuit records nothing for a neutral ending.
          if (probeId !== null) {
            await this.store.release(deploymentId, probeId);
          }
          return;
      }
    } catch (err) {
      this.errors.report('circuit_record', err);
    }
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
