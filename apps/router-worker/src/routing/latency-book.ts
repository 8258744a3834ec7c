import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { REDIS, RedisErrors, RedisKeys } from '@aigw/platform';
import { LatencyTracker, firstChunkLatencyPrefix, routingKeyPrefix } from '@aigw/routing';
import type { Redis } from 'ioredis';
import { FlushSchedule } from './flush-schedule';
import { HistoricalLatency } from './historical-latency';
import { ROUTING_CONFIG, type RoutingConfig } from './routing-config';

/** Latency samples are written together at most this often while they keep coming. */
export const LATENCY_FLUSH_MS = 100;
/** How long a sample may wait at most to be written, when no other follows it: the shared averages' lag. */
export const LATENCY_MAX_DELAY_MS = 250;

/** What the attempt loop reports after a successful call. */
export interface LatencySink {
  /** Streams report the time to their first chunk, other calls their whole duration. */
  record(deploymentId: string, stream: boolean, ms: number): void;
}

/** One average and the samples for it not written yet, in order, by deployment. */
interface Pending {
  readonly tracker: LatencyTracker;
  samples: Map<string, number[]>;
}

/**
 * Latency averages for the latency policy. Streamed and whole answers are kept apart: time to first chunk
 * and total duration measure different things, and a stream request should be routed by the former.
 *
 * Samples are off the request path: they are collected in memory and folded into the shared averages in batches
 * (FlushSchedule: at once after a quiet spell, else at most every LATENCY_FLUSH_MS and at most
 * LATENCY_MAX_DELAY_MS late), one script call per average for every deployment instead of one per request.
 */
@Injectable()
export class LatencyBook implements LatencySink, OnApplicationShutdown {
  private readonly calls: Pending;
  private readonly firstChunks: Pending;
  private readonly writes = new FlushSchedule(LATENCY_FLUSH_MS, LATENCY_MAX_DELAY_MS, () => this.write());
  /** The deployments of the catalog in force (`retain`); null until the first reload: all are recorded. */
  private known: ReadonlySet<string> | null = null;

  constructor(
    @Inject(REDIS) redis: Redis,
    keys: RedisKeys,
    @Inject(ROUTING_CONFIG) config: RoutingConfig,
    private readonly history: HistoricalLatency,
    private readonly errors: RedisErrors,
  ) {
    const prefix = routingKeyPrefix(keys.prefix);
    const tracker = (p: string): Pending => ({
      tracker: new LatencyTracker(redis, p, { alpha: config.latencyAlpha }),
      samples: new Map(),
    });
    this.calls = tracker(prefix);
    this.firstChunks = tracker(firstChunkLatencyPrefix(prefix));
  }

  /** The answer does not wait for the average to be updated. A lost sample is harmless. */
  record(deploymentId: string, stream: boolean, ms: number): void {
    if (this.known !== null && !this.known.has(deploymentId)) {
      // A call to a deployment deleted while it ran: its averages were forgotten and must stay so.
      return;
    }
    const { samples } = stream ? this.firstChunks : this.calls;
    const sample = Math.max(0, ms);
    const list = samples.get(deploymentId);
    if (list === undefined) {
      samples.set(deploymentId, [sample]);
    } else {
      list.push(sample);
    }
    this.writes.added();
  }

  /** Recent averages (Redis); empty when Redis fails, so the historical ones decide. */
  async recent(deploymentIds: readonly string[], stream: boolean): Promise<Map<string, number>> {
    try {
      return await (stream ? this.firstChunks : this.calls).tracker.get(deploymentIds);
    } catch (err) {
      this.errors.report('latency_read', err);
      return new Map();
    }
  }

  /**
   * Drops samples not written yet of deployments no longer in the catalog, and records none of them from now on
   * (see CircuitGuard.retain).
   */
  retain(deploymentIds: ReadonlySet<string>): void {
    this.known = deploymentIds;
    for (const { samples } of [this.calls, this.firstChunks]) {
      for (const id of samples.keys()) {
        if (!deploymentIds.has(id)) {
          samples.delete(id);
        }
      }
    }
  }

  historical(): ReadonlyMap<string, number> {
    return this.history.snapshot();
  }

  /** Writes the pending samples (also at shutdown, before Redis closes); resolves when they are written. */
  flush(): Promise<void> {
    return this.writes.flush();
  }

  onApplicationShutdown(): void {
    this.writes.stop();
  }

  private async write(): Promise<void> {
    await Promise.all([this.writeOne(this.calls), this.writeOne(this.firstChunks)]);
  }

  private async writeOne(pending: Pending): Promise<void> {
    if (pending.samples.size === 0) {
      return;
    }
    const batch = pending.samples;
    pending.samples = new Map();
    try {
      await pending.tracker.recordMany([...batch]);
    } catch (err) {
      this.errors.report('latency_record', err);
    }
  }
}
