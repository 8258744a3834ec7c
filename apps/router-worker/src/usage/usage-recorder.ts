import { Inject, Injectable } from '@nestjs/common';
import { JobName, USAGE_SHIP_AT_EVENTS, type UsageEvent } from '@aigw/core';
import { ENV, RedisErrors } from '@aigw/platform';
import type { WorkerEnv } from '../config/worker-env';
import { DrainDeadline } from '../lifecycle/drain-deadline';
import { redisRetryDelayMs, RedisHandOffAbandoned } from '../lifecycle/redis-retry';
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
 * (after its answer went out: clients never wait for it), or until USAGE_SHIP_AT_EVENTS have gathered, and while one
 * shipment is being added the events finishing meanwhile go in the next (group commit). So one job carries many
 * events at any load instead of each request paying a whole job.
 *
 * `record` resolves once the job holding the event is in Redis, and the generate job completes only then:
 * a crash before it re-runs the job, nothing is lost. When Redis refuses a shipment its events are kept and
 * shipped again (every error reported, backing off to a second) until Redis takes them, so an outage delays
 * usage but never loses it and never fails the generation. Only a worker that must stop before Redis is
 * back gives up: `record` then rejects with RedisHandOffAbandoned.
 */
@Injectable()
export class UsageRecorder {
  private waiting: Waiting[] = [];
  private shipping = false;
  private timer: NodeJS.Timeout | null = null;
  /** Consecutive refused shipments; the next one waits longer. */
  private failures = 0;
  private readonly lingerMs: number;

  constructor(
    private readonly queues: WorkerQueues,
    @Inject(ENV) env: Pick<WorkerEnv, 'USAGE_LINGER_MS'>,
    private readonly errors: RedisErrors,
    private readonly drain: DrainDeadline,
  ) {
    this.lingerMs = env.USAGE_LINGER_MS;
    drain.signal.addEventListener('abort', () => this.failures > 0 && this.abandon(), { once: true });
  }

  record(event: UsageEvent): Promise<void> {
    if (this.drain.passed && this.failures > 0) {
      return Promise.reject(new RedisHandOffAbandoned('usage event'));
    }
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ event, resolve, reject });
      this.schedule();
    });
  }

  /** Events waiting for Redis (or for their linger to end). */
  get pending(): number {
    return this.waiting.length;
  }

  private schedule(): void {
    if (this.shipping || this.waiting.length === 0 || (this.timer !== null && this.failures > 0)) {
      return;
    }
    if (this.failures === 0 && (this.lingerMs === 0 || this.waiting.length >= USAGE_SHIP_AT_EVENTS)) {
      this.clearTimer();
      void this.ship();
      return;
    }
    this.timer ??= setTimeout(
      () => {
        this.timer = null;
        void this.ship();
      },
      this.failures > 0 ? redisRetryDelayMs(this.failures) : this.lingerMs,
    );
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
      this.failures = 0;
      for (const w of batch) {
        w.resolve();
      }
    } catch (err) {
      this.errors.report('usage_enqueue', err);
      this.failures++;
      // Back at the front, in order: the next shipment retries them (with whatever arrived meanwhile).
      this.waiting.unshift(...batch);
    } finally {
      this.shipping = false;
      if (this.failures > 0 && this.drain.passed) {
        this.abandon();
      } else {
        this.schedule();
      }
    }
  }

  /**
   * Shutdown past its grace while Redis refuses: whatever still waits is given up (its generate jobs are not
   * completed, so another worker re-runs them). With Redis working, lingering events are shipped as usual.
   */
  private abandon(): void {
    this.clearTimer();
    if (this.shipping) {
      // The shipment in flight settles first and comes back here if it failed.
      return;
    }
    const given = this.waiting;
    this.waiting = [];
    for (const w of given) {
      w.reject(new RedisHandOffAbandoned('usage event'));
    }
  }
}
