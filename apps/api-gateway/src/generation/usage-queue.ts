import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationShutdown } from '@nestjs/common';
import {
  JobName,
  QueueName,
  USAGE_SHIP_AT_EVENTS,
  usageJobOptions,
  type UsageBatch,
  type UsageEvent,
} from '@aigw/core';
import { bullOptions, describeError, ENV, RedisErrors, RedisKeys } from '@aigw/platform';
import { Queue } from 'bullmq';
import { GatewayEnv } from '../config/gateway-env';
import { GenerationQueue } from './generation-queue';

/**
 * The producer side of the `usage` queue for answers no worker handled (response cache hits), on the gateway's one
 * producer connection (GenerationQueue's, which also closes it). Events share usage jobs: one waits at most
 * USAGE_LINGER_MS for others, USAGE_SHIP_AT_EVENTS ship at once, and shutdown ships what waits. A job per hit cost
 * a whole job lifecycle in Redis and a worker (about as much CPU as the hit itself). Best effort, as before: a
 * request is never failed or delayed because its usage row could not be queued; a refused job is reported and its
 * events dropped, and a process killed outright loses at most one linger's events.
 */
@Injectable()
export class UsageQueue implements BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger(UsageQueue.name);
  private readonly queue: Queue<UsageBatch, void, JobName.RecordUsage>;
  private readonly lingerMs: number;
  private waiting: UsageEvent[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly shipping = new Set<Promise<void>>();

  constructor(
    generation: GenerationQueue,
    keys: RedisKeys,
    private readonly errors: RedisErrors,
    @Inject(ENV) env: Pick<GatewayEnv, 'USAGE_LINGER_MS'>,
  ) {
    this.queue = new Queue(QueueName.Usage, bullOptions(generation.connection, keys));
    errors.watch(this.queue);
    this.lingerMs = env.USAGE_LINGER_MS;
  }

  record(event: UsageEvent): void {
    this.waiting.push(event);
    if (this.lingerMs === 0 || this.waiting.length >= USAGE_SHIP_AT_EVENTS) {
      this.ship();
    } else {
      this.timer ??= setTimeout(() => this.ship(), this.lingerMs);
    }
  }

  private ship(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.waiting.length === 0) {
      return;
    }
    const events = this.waiting;
    this.waiting = [];
    const added = this.queue.add(JobName.RecordUsage, { events }, usageJobOptions()).then(
      () => undefined,
      (err: unknown) => this.errors.report('usage_enqueue', err),
    );
    this.shipping.add(added);
    void added.finally(() => this.shipping.delete(added));
  }

  /** Ships what waits before the producer connection closes (GenerationQueue closes it on shutdown). */
  async beforeApplicationShutdown(): Promise<void> {
    this.ship();
    await Promise.all(this.shipping);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.queue
      .close()
      .catch((err: unknown) => this.logger.warn(`closing the usage queue: ${describeError(err)}`));
  }
}
