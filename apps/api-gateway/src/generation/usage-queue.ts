import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { JobName, QueueName, usageJobOptions, type UsageBatch, type UsageEvent } from '@aigw/core';
import { bullOptions, describeError, RedisErrors, RedisKeys } from '@aigw/platform';
import { Queue } from 'bullmq';
import { GenerationQueue } from './generation-queue';

/**
 * The producer side of the `usage` queue for answers no worker handled (response cache hits), on the gateway's one
 * producer connection (GenerationQueue's, which also closes it). Best effort: a request is never failed because
 * its usage row could not be queued; the failure is reported.
 */
@Injectable()
export class UsageQueue implements OnApplicationShutdown {
  private readonly logger = new Logger(UsageQueue.name);
  private readonly queue: Queue<UsageBatch, void, JobName.RecordUsage>;

  constructor(
    generation: GenerationQueue,
    keys: RedisKeys,
    private readonly errors: RedisErrors,
  ) {
    this.queue = new Queue(QueueName.Usage, bullOptions(generation.connection, keys));
    errors.watch(this.queue);
  }

  async record(event: UsageEvent): Promise<void> {
    try {
      await this.queue.add(JobName.RecordUsage, { events: [event] }, usageJobOptions());
    } catch (err) {
      this.errors.report('usage_enqueue', err);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.queue
      .close()
      .catch((err: unknown) => this.logger.warn(`closing the usage queue: ${describeError(err)}`));
  }
}
