import { Inject, Injectable } from '@nestjs/common';
import { QueueName, type JobName, type UsageBatch } from '@aigw/core';
import { bullOptions, closeRedis, createRedis, ENV, RedisErrors, RedisKeys } from '@aigw/platform';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { WorkerEnv } from '../config/worker-env';

/**
 * Producer-side queue handles (usage jobs are added here, depths read) on a connection of their own:
 * BullMQ loads its Lua scripts onto whatever connection it is given, and every ioredis pipeline built on that
 * connection (the circuit reads) would copy them all.
 */
@Injectable()
export class WorkerQueues {
  readonly generation: Queue;
  readonly usage: Queue<UsageBatch, void, JobName.RecordUsage>;
  private readonly connection: Redis;

  constructor(@Inject(ENV) env: WorkerEnv, keys: RedisKeys, errors: RedisErrors) {
    this.connection = createRedis(env.REDIS_URL, `${keys.prefix}:producer`, errors);
    const opts = bullOptions(this.connection, keys);
    this.generation = new Queue(QueueName.Generation, opts);
    this.usage = new Queue<UsageBatch, void, JobName.RecordUsage>(QueueName.Usage, opts);
    for (const q of this.all()) {
      errors.watch(q);
    }
  }

  all(): Queue[] {
    return [this.generation, this.usage as Queue];
  }

  async close(): Promise<void> {
    await Promise.all(this.all().map((q) => q.close()));
    await closeRedis(this.connection);
  }
}
