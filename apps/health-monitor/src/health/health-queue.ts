import { hostname } from 'node:os';
import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { merged, QueueName, type HealthJobMap, type HealthJobName } from '@aigw/core';
import { bullOptions, closeRedis, createRedis, describeError, ENV, RedisErrors, RedisKeys } from '@aigw/platform';
import { Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { MonitorEnv } from '../config/monitor-env';

export type HealthJob = Job<HealthJobMap[HealthJobName], void, HealthJobName>;

/**
 * The health queue: job schedulers add a probe per provider per interval, and whichever monitor replica takes it
 * runs it (once: a BullMQ job goes to one worker). The queue handle and the worker have connections of their own
 * (a worker blocks; BullMQ's scripts would make every pipeline on the shared connection copy them all).
 */
@Injectable()
export class HealthQueue implements OnApplicationShutdown {
  private readonly logger = new Logger('HealthQueue');
  readonly queue: Queue<HealthJobMap[HealthJobName], void, HealthJobName>;
  private readonly producer: Redis;
  private consumer?: { worker: Worker<HealthJobMap[HealthJobName], void, HealthJobName>; connection: Redis };

  constructor(
    @Inject(ENV) private readonly env: MonitorEnv,
    private readonly keys: RedisKeys,
    private readonly errors: RedisErrors,
  ) {
    this.producer = createRedis(env.REDIS_URL, `${keys.prefix}:health-producer`, errors);
    this.queue = new Queue(QueueName.Health, bullOptions(this.producer, keys));
    errors.watch(this.queue);
  }

  /**
   * Starts taking jobs; `process` runs each (a rejection fails the job: BullMQ retries it when it has attempts),
   * with the job's lock token (for `moveToDelayed`).
   */
  start(process: (job: HealthJob, token?: string) => Promise<void>): void {
    const connection = createRedis(this.env.REDIS_URL, `${this.keys.prefix}:health-worker`, this.errors, {
      blocking: true,
    });
    const worker = new Worker<HealthJobMap[HealthJobName], void, HealthJobName>(
      QueueName.Health,
      process,
      merged(bullOptions(connection, this.keys), {
        concurrency: this.env.HEALTH_CONCURRENCY,
        name: `${hostname()}:${globalThis.process.pid}`,
        autorun: false,
      }),
    );
    this.errors.watch(worker);
    worker.on('failed', (job, err) => {
      if (job) {
        this.logger.warn(`job ${job.name} ${job.id ?? ''} failed (attempt ${job.attemptsMade}): ${describeError(err)}`);
      }
    });
    worker.run().catch((err: unknown) => this.logger.error(`health worker stopped: ${describeError(err)}`));
    this.consumer = { worker, connection };
  }

  /** Stops taking jobs and lets the running probes finish (they are bounded by PROBE_TIMEOUT_MS). */
  async onApplicationShutdown(): Promise<void> {
    if (this.consumer !== undefined) {
      const { worker, connection } = this.consumer;
      try {
        await worker.close(connection.status !== 'ready');
      } finally {
        await closeRedis(connection);
      }
    }
    await this.queue.close();
    await closeRedis(this.producer);
  }
}
