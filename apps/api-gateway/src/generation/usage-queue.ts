import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { JobName, QueueName, USAGE_BACKOFF, USAGE_JOB_ATTEMPTS, type UsageBatch, type UsageEvent } from '@aigw/core';
import { closeRedis, createRedis, describeError, ENV, RedisErrors, RedisKeys } from '@aigw/platform';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { GatewayEnv } from '../config/gateway-env';

/**
 * The producer side of the `usage` queue for answers no worker handled (response cache hits). Best effort: a
 * request is never failed because its usage row could not be queued; the failure is reported.
 */
@Injectable()
export class UsageQueue implements OnApplicationShutdown {
  private readonly logger = new Logger(UsageQueue.name);
  private readonly connection: Redis;
  private readonly queue: Queue<UsageBatch, void, JobName.RecordUsage>;

  constructor(
    @Inject(ENV) env: GatewayEnv,
    keys: RedisKeys,
    private readonly errors: RedisErrors,
  ) {
    this.connection = createRedis(env.REDIS_URL, `${env.REDIS_PREFIX}:usage`, errors, { blocking: false });
    this.queue = new Queue(QueueName.Usage, { connection: this.connection, prefix: keys.bullPrefix });
    errors.watch(this.queue);
  }

  async record(event: UsageEvent): Promise<void> {
    try {
      await this.queue.add(
        JobName.RecordUsage,
        { events: [event] },
        { attempts: USAGE_JOB_ATTEMPTS, backoff: { type: USAGE_BACKOFF }, removeOnComplete: true, removeOnFail: false },
      );
    } catch (err) {
      this.errors.report('usage_enqueue', err);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.queue
      .close()
      .catch((err: unknown) => this.logger.warn(`closing the usage queue: ${describeError(err)}`));
    await closeRedis(this.connection);
  }
}
