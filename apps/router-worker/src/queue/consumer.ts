import { hostname } from 'node:os';
import { Logger } from '@nestjs/common';
import { closeRedis, createRedis, describeError, type RedisErrors, type RedisKeys } from '@aigw/platform';
import { Worker, type WorkerOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { QueueProcessor } from './queue-processor';

export interface ConsumerOptions extends Omit<WorkerOptions, 'connection' | 'prefix' | 'autorun'> {
  /** Log every failed job (off where failures come in floods and are reported elsewhere). */
  logFailedJobs: boolean;
}

/**
 * A BullMQ Worker running one queue's processor on its own connection (a worker blocks on Redis, so it must
 * not share the command connection). `close` stops taking jobs and waits for the running ones.
 */
export class QueueConsumer {
  private readonly logger: Logger;
  private readonly connection: Redis;
  private readonly worker: Worker;

  constructor(
    redisUrl: string,
    keys: RedisKeys,
    errors: RedisErrors,
    processor: QueueProcessor,
    options: ConsumerOptions,
  ) {
    const { logFailedJobs, ...workerOptions } = options;
    this.logger = new Logger(`Consumer:${processor.queue}`);
    const name = `${keys.prefix}:worker:${processor.queue}`;
    this.connection = createRedis(redisUrl, name, errors, { blocking: true });
    this.worker = new Worker(processor.queue, processor.process, {
      ...workerOptions,
      // Stored on each job as `processedBy`: which pod took it.
      name: `${hostname()}:${process.pid}`,
      connection: this.connection,
      prefix: keys.bullPrefix,
      autorun: false,
    });
    // BullMQ's own blocking connection (a duplicate of ours) reports through the worker's error event.
    errors.watch(this.worker);
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
      await closeRedis(this.connection);
    }
  }
}
