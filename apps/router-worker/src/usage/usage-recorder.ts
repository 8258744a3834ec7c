import { Injectable } from '@nestjs/common';
import { JobName, type UsageEvent } from '@aigw/core';
import { WorkerQueues } from '../queue/worker-queues';
import { usageJobOptions } from './usage-backoff';

/** Bound on one shipment, so a backlog after a Redis hiccup still makes jobs of a sane size. */
const MAX_EVENTS_PER_JOB = 500;

interface Waiting {
  event: UsageEvent;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Hands usage events to the usage queue by group commit: while one shipment (one BullMQ job) is being
 * added, the events finishing meanwhile wait and go together in the next. One request alone ships at once,
 * so nothing waits a timer; under load one job carries many events. `record` resolves once the job that
 * holds the event is in Redis, and rejects only when Redis refuses it.
 */
@Injectable()
export class UsageRecorder {
  private waiting: Waiting[] = [];
  private shipping = false;

  constructor(private readonly queues: WorkerQueues) {}

  record(event: UsageEvent): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ event, resolve, reject });
      if (!this.shipping) {
        void this.ship();
      }
    });
  }

  private async ship(): Promise<void> {
    this.shipping = true;
    while (this.waiting.length > 0) {
      const batch = this.waiting.splice(0, MAX_EVENTS_PER_JOB);
      try {
        await this.queues.usage.add(JobName.RecordUsage, { events: batch.map((w) => w.event) }, usageJobOptions());
        for (const w of batch) {
          w.resolve();
        }
      } catch (err) {
        for (const w of batch) {
          w.reject(err);
        }
      }
    }
    this.shipping = false;
  }
}
