import { hostname } from 'node:os';
import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { merged, QueueName, type HealthJobMap, type HealthJobName } from '@aigw/core';
import { bullOptions, closeRedis, createRedis, describeError, ENV, RedisErrors, RedisKeys } from '@aigw/platform';
import { Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { MonitorEnv } from '../config/monitor-env';

export type HealthJob = Job<HealthJobMap[HealthJobName], void, HealthJobName>;

type HealthWorker = Worker<HealthJobMap[HealthJobName], void, HealthJobName>;

/**
 * The health queue: job schedulers add a probe per provider per interval, and whichever monitor replica takes it
 * runs it (once: a BullMQ job goes to one worker). Alert deliveries go on a queue of their own (`alerts`), taken by
 * a worker of their own with ALERT_CONCURRENCY slots: a webhook that answers slowly (or not at all, until
 * ALERT_WEBHOOK_TIMEOUT_MS) holds those, never the HEALTH_CONCURRENCY slots the probes run in. The queue handles
 * and each worker have connections of their own (a worker blocks; BullMQ's scripts would make every pipeline on the
 * shared connection copy them all).
 */
@Injectable()
export class HealthQueue implements OnApplicationShutdown {
  private readonly logger = new Logger('HealthQueue');
  readonly queue: Queue<HealthJobMap[HealthJobName], void, HealthJobName>;
  /** Alert deliveries (HealthJobName.SendAlert only). */
  readonly alerts: Queue<HealthJobMap[HealthJobName], void, HealthJobName>;
  private readonly producer: Redis;
  private consumers: { worker: HealthWorker; connection: Redis }[] = [];

  constructor(
    @Inject(ENV) private readonly env: MonitorEnv,
    private readonly keys: RedisKeys,
    private readonly errors: RedisErrors,
  ) {
    this.producer = createRedis(env.REDIS_URL, `${keys.prefix}:health-producer`, errors);
    this.queue = new Queue(QueueName.Health, bullOptions(this.producer, keys));
    errors.watch(this.queue);
    this.alerts = new Queue(QueueName.HealthAlerts, bullOptions(this.producer, keys));
    errors.watch(this.alerts);
  }

  /**
   * Starts taking jobs of both queues; `process` runs each (a rejection fails the job: BullMQ retries it when it has
   * attempts), with the job's lock token (for `moveToDelayed`). A delivery queued on the health queue by an older
   * release is still run there.
   */
  start(process: (job: HealthJob, token?: string) => Promise<void>): void {
    this.consumers = [
      this.consume(QueueName.Health, 'health-worker', this.env.HEALTH_CONCURRENCY, process),
      this.consume(QueueName.HealthAlerts, 'health-alert-worker', this.env.ALERT_CONCURRENCY, process),
    ];
  }

  private consume(
    queue: QueueName,
    label: string,
    concurrency: number,
    process: (job: HealthJob, token?: string) => Promise<void>,
  ): { worker: HealthWorker; connection: Redis } {
    const connection = createRedis(this.env.REDIS_URL, `${this.keys.prefix}:${label}`, this.errors, {
      blocking: true,
    });
    const worker: HealthWorker = new Worker<HealthJobMap[HealthJobName], void, HealthJobName>(
      queue,
      process,
      merged(bullOptions(connection, this.keys), {
        concurrency,
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
    worker.run().catch((err: unknown) => this.logger.error(`${queue} worker stopped: ${describeError(err)}`));
    return { worker, connection };
  }

  /**
   * Stops taking jobs and lets the running ones finish (probes are bounded by PROBE_TIMEOUT_MS, deliveries by
   * ALERT_WEBHOOK_TIMEOUT_MS).
   */
  async onApplicationShutdown(): Promise<void> {
    const consumers = this.consumers;
    this.consumers = [];
    await Promise.all(
      consumers.map(async ({ worker, connection }) => {
        try {
          await worker.close(connection.status !== 'ready');
        } finally {
          await closeRedis(connection);
        }
      }),
    );
    await this.alerts.close();
    await this.queue.close();
    await closeRedis(this.producer);
  }
}
