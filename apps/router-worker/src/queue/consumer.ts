import { hostname } from 'node:os';
import { Logger } from '@nestjs/common';
import { describeError, createRedis, type RedisKeys } from '@aigw/platform';
import { Worker, type WorkerOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { QueueProcessor } from './queue-processor';

export interface ConsumerOptions extends Omit<WorkerOptions, 'connection' | 'prefix' | 'autorun'> {
  /** Log every failed job (off where failures come in floods and are reported elsewhere). */
  logFailedJobs: boolean;
}

/** Errors repeat every few ms while Redis is down; one line per interval is enough. */
const ERROR_LOG_INTERVAL_MS = 5_000;

/**
 * A BullMQ Worker running one queue's processor on its own connection (a worker blocks on Redis, so it must
 * not share the command connection). `close` stops taking jobs and waits for the running ones.
 */
export class QueueConsumer {
  private readonly logger: Logger;
  private readonly connection: Redis;
  private readonly worker: Worker;
  private lastErrorLogAt = 0;

  constructor(redisUrl: string, keys: RedisKeys, processor: QueueProcessor, options: ConsumerOptions) {
    const { logFailedJobs, ...workerOptions } = options;
    this.logger = new Logger(`Consumer:${processor.queue}`);
    this.connection = createRedis(redisUrl, `${keys.prefix}:worker:${processor.queue}`, { blocking: true });
    this.worker = new Worker(processor.queue, processor.process, {
      ...workerOptions,
      // Stored on each job as `processedBy`: which pod took it.
      name: `${hostname()}:${process.pid}`,
      connection: this.connection,
      prefix: keys.bullPrefix,
      autorun: false,
    });
    this.worker.on('error', (err) => this.logError(err));
    this.worker.on('failed', (job, err) => {
      if (job && logFailedJobs) {
        this.logger.warn(`job ${job.name} ${job.id ?? ''} failed (attempt ${job.attemptsMade}): ${describeError(err)}`);
      }
    });
  }

  start(): void {
    this.worker.run().catch((err: unknown) => this.logger.error(`worker stopped: ${describeError(err)}`));
  }

  get running(): boolean {
    return this.worker.isRunning();
  }

  async close(): Promise<void> {
    try {
      await this.worker.close();
    } finally {
      await this.connection.quit().catch(() => this.connection.disconnect());
    }
  }

  private logError(err: Error): void {
    const now = Date.now();
    if (now - this.lastErrorLogAt >= ERROR_LOG_INTERVAL_MS) {
      this.lastErrorLogAt = now;
      this.logger.error(describeError(err));
    }
  }
}
