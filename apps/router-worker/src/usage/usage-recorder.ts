import { Inject, Injectable } from '@nestjs/common';
import { JobName, type UsageEvent } from '@aigw/core';
import { ENV } from '@aigw/platform';
import type { WorkerEnv } from '../config/worker-env';
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
 * Hands usage events to the usage queue in shared jobs. An event waits at most `lingerMs` for others
 * (after its answer went out: clients never wait for it), and while one shipment is being added the
 * events finishing meanwhile go in the next (group commit). So one job carries many events at any load
 * instead of each request paying a whole job. `record` resolves once the job holding the event is in
 * Redis (the generate job completes only then: a crash before it re-runs the job, nothing is lost), and
 * rejects only when Redis refuses it.
 */
@Injectable()
export class UsageRecorder {
  private waiting: Waiting[] = [];
  private shipping = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly lingerMs: number;

  constructor(
    private readonly queues: WorkerQueues,
    @Inject(ENV) env: Pick<WorkerEnv, 'USAGE_LINGER_MS'>,
  ) {
    this.lingerMs = env.USAGE_LINGER_MS;
  }

  record(event: UsageEvent): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ event, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.shipping || this.waiting.length === 0) {
      return;
    }
    if (this.lingerMs === 0 || this.waiting.length >= MAX_EVENTS_PER_JOB) {
      this.clearTimer();
      void this.ship();
    } else {
      this.timer ??= setTimeout(() => {
        this.timer = null;
        void this.ship();
      }, this.lingerMs);
    }
  }

  private clearTimer(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  private async ship(): Promise<void> {
    this.shipping = true;
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
    } finally {
      this.shipping = false;
      this.schedule();
    }
  }
}
