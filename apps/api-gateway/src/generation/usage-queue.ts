import { Inject, Injectable } from '@nestjs/common';
import {
  JobName,
  QueueName,
  USAGE_SHIP_AT_EVENTS,
  UsageBatcher,
  usageJobOptions,
  type UsageBatch,
  type UsageEvent,
} from '@aigw/core';
import { bullOptions, ENV, RedisErrors, RedisFinalWrites, RedisKeys, type CountedQueue } from '@aigw/platform';
import { Queue } from 'bullmq';
import { GatewayEnv } from '../config/gateway-env';
import { GenerationQueue } from './generation-queue';

/**
 * The producer side of the `usage` queue for answers no worker handled (response cache hits, coalesced followers),
 * on the gateway's one producer connection (GenerationQueue's). Events share usage jobs: one waits at most
 * USAGE_LINGER_MS for others, USAGE_SHIP_AT_EVENTS ship at once. A job per hit cost a whole job lifecycle in Redis
 * and a worker (about as much CPU as the hit itself).
 *
 * Shutdown ships what waits as one of REDIS's final writes: after the HTTP server drained, so the answers given
 * while it drained (a follower whose leader's answer came then) are counted too, and before the producer connection
 * closes (this queue closes first, then GenerationQueue's connection). A request is never failed or delayed because
 * its usage row could not be queued: a refused job is reported and its events dropped, and a process killed
 * outright loses at most one linger's events.
 */
@Injectable()
export class UsageQueue {
  private readonly queue: Queue<UsageBatch, void, JobName.RecordUsage>;
  private readonly batcher: UsageBatcher;

  constructor(
    generation: GenerationQueue,
    keys: RedisKeys,
    errors: RedisErrors,
    @Inject(ENV) env: Pick<GatewayEnv, 'USAGE_LINGER_MS'>,
    finalWrites: RedisFinalWrites,
  ) {
    this.queue = new Queue(QueueName.Usage, bullOptions(generation.connection, keys));
    errors.watch(this.queue);
    this.batcher = new UsageBatcher(
      async (events) => {
        await this.queue.add(JobName.RecordUsage, { events }, usageJobOptions());
        return events.length;
      },
      {
        // Without a linger each hit is its own job at once.
        maxBatch: env.USAGE_LINGER_MS === 0 ? 1 : USAGE_SHIP_AT_EVENTS,
        flushMs: env.USAGE_LINGER_MS,
        onFailed: (err) => errors.report('usage_enqueue', err),
      },
    );
    finalWrites.add(() => this.batcher.flush());
    finalWrites.closeAfter(() => this.queue.close());
  }

  /** The queue as `aigw_queue_jobs` reads it at scrape time. */
  counted(): CountedQueue {
    return this.queue;
  }

  record(event: UsageEvent): void {
    // A refused job is reported (onFailed) and its events dropped.
    this.batcher.add(event).catch(() => undefined);
  }
}
