import { Injectable } from '@nestjs/common';
import { JobName, type UsageEvent } from '@aigw/core';
import { WorkerQueues } from '../queue/worker-queues';
import { usageJobOptions } from './usage-backoff';

/** Hands a usage event to the usage queue; the writer stores it. Rejects only when Redis refuses the job. */
@Injectable()
export class UsageRecorder {
  constructor(private readonly queues: WorkerQueues) {}

  async record(event: UsageEvent): Promise<void> {
    await this.queues.usage.add(JobName.RecordUsage, event, usageJobOptions(event));
  }
}
