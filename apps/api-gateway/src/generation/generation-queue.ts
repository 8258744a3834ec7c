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
import { createRedis, describeError, ENV, RedisKeys } from '@aigw/platform';
import { Queue, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { GatewayEnv } from '../config/gateway-env';

export type GenerateJob = Job<GenerateJobData, GenerateOutcome, JobName.Generate>;

/** Failed jobs are kept a day for inspection. */
const FAILED_RETENTION_S = 86_400;

export interface EnqueueOptions {
  jobId: string;
  /** Reply channel of the waiting gateway instance; null for async jobs. */
  replyTo: string | null;
  /** How long the job (and its result) stays in Redis after completing. */
  retentionS: number;
}

/** The producer side of the `generation` queue. */
@Injectable()
export class GenerationQueue implements OnApplicationShutdown {
  private readonly logger = new Logger(GenerationQueue.name);
  private readonly connection: Redis;
  private readonly queue: Queue<GenerateJobData, GenerateOutcome, JobName.Generate>;

  constructor(@Inject(ENV) env: GatewayEnv, keys: RedisKeys) {
    this.connection = createRedis(env.REDIS_URL, `${env.REDIS_PREFIX}:queue`, { blocking: false });
    this.connection.on('error', (err) => this.logger.warn(`queue connection: ${describeError(err)}`));
    this.queue = new Queue(QueueName.Generation, { connection: this.connection, prefix: keys.bullPrefix });
    this.queue.on('error', (err) => this.logger.warn(`queue: ${describeError(err)}`));
  }

  /**
   * Adds a `generate` job. With an id that already exists BullMQ keeps the existing job and adds
   * nothing: that is what makes retried idempotent requests safe.
   */
  async add(request: GenerationRequest, opts: EnqueueOptions): Promise<void> {
    try {
      await this.queue.add(
        JobName.Generate,
        { request, replyTo: opts.replyTo },
        {
          jobId: opts.jobId,
          attempts: 1,
          removeOnComplete: { age: opts.retentionS },
          removeOnFail: { age: FAILED_RETENTION_S },
        },
      );
    } catch (err) {
      throw new GatewayError(ErrorCode.ServiceUnavailable, 'The request could not be queued; retry shortly.', {
        retryAfterMs: 1_000,
        cause: err,
      });
    }
  }

  async get(jobId: string): Promise<GenerateJob | undefined> {
    return this.queue.getJob(jobId);
  }

  /** Removes a job nobody waits for any more, if no worker took it yet (an active job is locked and stays). */
  async removeIfWaiting(jobId: string): Promise<void> {
    try {
      await this.queue.remove(jobId);
    } catch {
      // Locked by a worker, or already gone: the cancel message takes care of a running job.
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.queue.close().catch((err: unknown) => this.logger.warn(`closing the queue: ${describeError(err)}`));
    await this.connection.quit().catch(() => this.connection.disconnect());
  }
}
