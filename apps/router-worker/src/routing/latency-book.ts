import { Inject, Injectable } from '@nestjs/common';
import { REDIS, RedisErrors, RedisKeys } from '@aigw/platform';
import { LatencyTracker, routingKeyPrefix } from '@aigw/routing';
import type { Redis } from 'ioredis';
import { HistoricalLatency } from './historical-latency';
import { ROUTING_CONFIG, type RoutingConfig } from './routing-config';

/** What the attempt loop reports after a successful call. */
export interface LatencySink {
  /** Streams report the time to their first chunk, other calls their whole duration. */
  record(deploymentId: string, stream: boolean, ms: number): void;
}

/**
 * Latency averages for the latency policy. Streamed and whole answers are kept apart: time to first chunk
 * and total duration measure different things, and a stream request should be routed by the former.
 */
@Injectable()
export class LatencyBook implements LatencySink {
  private readonly calls: LatencyTracker;
  private readonly firstChunks: LatencyTracker;

  constructor(
    @Inject(REDIS) redis: Redis,
    keys: RedisKeys,
    @Inject(ROUTING_CONFIG) config: RoutingConfig,
    private readonly history: HistoricalLatency,
    private readonly errors: RedisErrors,
  ) {
    const prefix = routingKeyPrefix(keys.prefix);
    this.calls = new LatencyTracker(redis, prefix, { alpha: config.latencyAlpha });
    this.firstChunks = new LatencyTracker(redis, `${prefix}stream:`, { alpha: config.latencyAlpha });
  }

  /** Off the request path: the answer does not wait for the average to be updated. A lost sample is harmless. */
  record(deploymentId: string, stream: boolean, ms: number): void {
    (stream ? this.firstChunks : this.calls)
      .record(deploymentId, Math.max(0, ms))
      .catch((err: unknown) => this.errors.report('latency_record', err));
  }

  /** Recent averages (Redis); empty when Redis fails, so the historical ones decide. */
  async recent(deploymentIds: readonly string[], stream: boolean): Promise<Map<string, number>> {
    try {
      return await (stream ? this.firstChunks : this.calls).get(deploymentIds);
    } catch (err) {
      this.errors.report('latency_read', err);
      return new Map();
    }
  }

  historical(): ReadonlyMap<string, number> {
    return this.history.snapshot();
  }
}
