import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import {
  ErrorCode,
  GatewayError,
  JobName,
  QueueName,
  type GenerateJobData,
  type GenerateOutcome,
  type GenerationRequest,
} from '@aigw/core';
import { bullOptions, closeRedis, createRedis, describeError, ENV, RedisErrors, RedisKeys } from '@aigw/platform';
import { Queue, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { GatewayEnv } from '../config/gateway-env';

export type GenerateJob = Job<GenerateJobData, GenerateOutcome, JobName.Generate>;

/** Failed jobs are kept a day for inspection. */
const FAILED_RETENTION_S = 86_400;
/**
 * Runs of a job before it fails. A worker's processor throws only for infrastructure reasons (it had to stop
 * while Redis was away); a generation that fails is a completed job with an error outcome, never retried here.
 * A re-run returns the answer its previous run kept instead of calling the provider again.
 */
export const GENERATE_ATTEMPTS = 3;
const GENERATE_BACKOFF_MS = 1_000;

export interface EnqueueOptions {
  jobId: string;
  /** Reply channel of the waiting gateway instance; null for async jobs. */
  replyTo: string | null;
  /** How long the job (and its result) stays in Redis after completing. */
  retentionS: number;
  /** Set when identical requests may join the job (ADR 0007). */
  coalescingKey?: string;
  /** BullMQ priority (1 highest); absent: ahead of every prioritized job. Cache warming runs at WARM_PRIORITY. */
  priority?: number;
}

/** The producer side of the `generation` queue. */
@Injectable()
export class GenerationQueue implements OnApplicationShutdown {
  private readonly logger = new Logger(GenerationQueue.name);
  /** The gateway's producer connection; the usage queue (cache hits) shares it. */
  readonly connection: Redis;
  private readonly queue: Queue<GenerateJobData, GenerateOutcome, JobName.Generate>;

  constructor(
    @Inject(ENV) env: GatewayEnv,
    keys: RedisKeys,
    private readonly errors: RedisErrors,
  ) {
    this.connection = createRedis(env.REDIS_URL, `${env.REDIS_PREFIX}:queue`, errors, { blocking: false });
    this.queue = new Queue(QueueName.Generation, bullOptions(this.connection, keys));
    errors.watch(this.queue);
  }

  /**
   * Adds a `generate` job. With an id that already exists BullMQ keeps the existing job and adds
   * nothing: that is what makes retried idempotent requests safe.
   */
  async add(request: GenerationRequest, opts: EnqueueOptions): Promise<void> {
    try {
      await this.queue.add(
        JobName.Generate,
        opts.coalescingKey === undefined
          ? { request, replyTo: opts.replyTo }
          : { request, replyTo: opts.replyTo, coalescingKey: opts.coalescingKey },
        {
          jobId: opts.jobId,
          attempts: GENERATE_ATTEMPTS,
          backoff: { type: 'exponential', delay: GENERATE_BACKOFF_MS },
          removeOnComplete: { age: opts.retentionS },
          removeOnFail: { age: FAILED_RETENTION_S },
          ...(opts.priority === undefined ? {} : { priority: opts.priority }),
        },
      );
    } catch (err) {
      this.errors.report('enqueue', err);
      throw new GatewayError(ErrorCode.ServiceUnavailable, 'The request could not be queued; retry shortly.', {
        retryAfterMs: 1_000,
        cause: err,
      });
    }
  }

  async get(jobId: string): Promise<GenerateJob | undefined> {
    return this.queue.getJob(jobId);
  }

  /**
   * Removes a job nobody waits for any more, if no worker took it yet (an active job is locked and stays).
   * Resolves true when it was removed.
   */
  async removeIfWaiting(jobId: string): Promise<boolean> {
    try {
      return (await this.queue.remove(jobId)) === 1;
    } catch {
      // Locked by a worker, or already gone: the cancel message takes care of a running job.
      return false;
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.queue.close().catch((err: unknown) => this.logger.warn(`closing the queue: ${describeError(err)}`));
    await closeRedis(this.connection);
  }
}
