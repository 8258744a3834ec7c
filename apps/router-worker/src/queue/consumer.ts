import { merged } from '@aigw/core';
import { hostname } from 'node:os';
import { Logger } from '@nestjs/common';
import {
  bullOptions,
  closeRedis,
  createRedis,
  describeError,
  TurnCork,
  type RedisErrors,
  type RedisKeys,
} from '@aigw/platform';
import type { Job, WorkerOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { QueueProcessor } from './queue-processor';
import { LeanWorker, leanFetchScript, type WakeHook } from './lean-fetch';

export interface ConsumerOptions extends Omit<WorkerOptions, 'connection' | 'prefix' | 'autorun'> {
  /** Log every failed job (off where failures come in floods and are reported elsewhere). */
  logFailedJobs: boolean;
  /** Started when an idle worker fetches a job (LeanWorker.onWake). */
  onWake?: WakeHook<unknown>;
  /**
   * Called once a job reached BullMQ's `failed` state for good (no attempt left, or its stalls ran out), on the worker
   * that failed it: not for a failure BullMQ retries.
   */
  onFailedForGood?: (job: Job) => void;
}

/**
 * A BullMQ Worker running one queue's processor on its own connection (a worker blocks on Redis, so it must
 * not share the command connection). `close` stops taking jobs and waits for the running ones.
 */
export class QueueConsumer {
  private readonly logger: Logger;
  private readonly connection: Redis;
  private readonly worker: LeanWorker;
  private readonly cork: TurnCork;
  /** Jobs inside the processor right now, and who waits for the count to reach zero. */
  private active = 0;
  private idle: (() => void)[] = [];

  constructor(
    redisUrl: string,
    keys: RedisKeys,
    errors: RedisErrors,
    processor: QueueProcessor,
    options: ConsumerOptions,
  ) {
    const { logFailedJobs, onWake, onFailedForGood, ...workerOptions } = options;
    this.logger = new Logger(`Consumer:${processor.queue}`);
    const name = `${keys.prefix}:worker:${processor.queue}`;
    this.connection = createRedis(redisUrl, name, errors, { blocking: true });
    this.cork = new TurnCork(this.connection);
    if (!leanFetchScript()) {
      this.logger.warn("BullMQ's moveToActive script has changed: workers ask Redis twice more per job");
    }
    this.worker = new LeanWorker(
      processor.queue,
      (job, token) => this.track(processor.process(job, token)),
      merged(
        workerOptions,
        merged(bullOptions(this.connection, keys), {
          // Stored on each job as `processedBy`: which pod took it.
          name: `${hostname()}:${process.pid}`,
          autorun: false,
        }),
      ),
    );
    this.worker.onWake = onWake ?? null;
    this.worker.freeSlots = () => this.worker.concurrency - this.active;
    this.worker.beforePrefetch = () => this.cork.hold();
    // BullMQ's own blocking connection (a duplicate of ours) reports through the worker's error event.
    errors.watch(this.worker);
    this.worker.on('failed', (job, err) => {
      if (job && logFailedJobs) {
        this.logger.warn(`job ${job.name} ${job.id ?? ''} failed (attempt ${job.attemptsMade}): ${describeError(err)}`);
      }
      // moveToFailed sets finishedOn only when the job went to the failed set, not when it was put back for a retry.
      if (job && onFailedForGood !== undefined && job.finishedOn !== undefined) {
        onFailedForGood(job);
      }
    });
  }

  start(): void {
    this.worker.run().catch((err: unknown) => this.logger.error(`worker stopped: ${describeError(err)}`));
  }

  get running(): boolean {
    return this.worker.isRunning();
  }

  /** See LeanWorker.blockingClientId. */
  blockingClientId(): Promise<number | null> {
    return this.worker.blockingClientId();
  }

  /**
   * Stops taking jobs, waits for the running ones (the caller bounds them: see GenerationConsumer.close), then
   * closes. BullMQ's graceful close QUITs its connections, which waits forever while Redis is away, so without
   * Redis it is forced: nothing runs any more, and a completion that could not be written leaves its job to be
   * re-run as stalled.
   */
  async close(): Promise<void> {
    try {
      await this.worker.pause(true);
      await this.worker.releasePrefetched();
      await this.whenIdle();
      await this.worker.close(this.connection.status !== 'ready');
    } finally {
      await closeRedis(this.connection);
    }
  }

  private async track<T>(work: Promise<T>): Promise<T> {
    this.active++;
    try {
      return await work;
    } finally {
      // BullMQ writes the job's completion (and fetches the next job) right after this returns: the completions of
      // the jobs that finish in this turn leave in one socket write.
      this.cork.hold();
      if (--this.active === 0) {
        for (const resolve of this.idle.splice(0)) {
          resolve();
        }
      }
    }
  }

  private whenIdle(): Promise<void> {
    return this.active === 0 ? Promise.resolve() : new Promise((resolve) => this.idle.push(resolve));
  }
}
