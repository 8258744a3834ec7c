import { Inject, Injectable } from '@nestjs/common';
import { QueueName, type JobName, type UsageBatch } from '@aigw/core';
import { REDIS, RedisKeys } from '@aigw/platform';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';

/** Producer-side queue handles on the shared command connection: usage jobs are added here, depths read. */
@Injectable()
export class WorkerQueues {
  readonly generation: Queue;
  readonly usage: Queue<UsageBatch, void, JobName.RecordUsage>;

  constructor(@Inject(REDIS) redis: Redis, keys: RedisKeys) {
    const opts = { connection: redis, prefix: keys.bullPrefix };
    this.generation = new Queue(QueueName.Generation, opts);
    this.usage = new Queue<UsageBatch, void, JobName.RecordUsage>(QueueName.Usage, opts);
  }

  all(): Queue[] {
    return [this.generation, this.usage as Queue];
  }

  /** Leaves the shared connection open (RedisModule owns it). */
  async close(): Promise<void> {
    await Promise.all(this.all().map((q) => q.close()));
  }
}
