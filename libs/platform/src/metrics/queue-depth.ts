import type { Logger } from '@nestjs/common';
import { Gauge, type Registry } from 'prom-client';
import { describeError } from '../http/errors';
import { waitAtMost } from '../lifecycle/wait-at-most';
import { MetricName, SCRAPE_READ_TIMEOUT_MS } from './metrics';

const STATES = ['waiting', 'active', 'delayed', 'prioritized', 'paused', 'failed', 'completed'] as const;

/** What the gauge reads of a BullMQ queue (a `Queue` is one). */
export interface CountedQueue {
  readonly name: string;
  getJobCounts(...types: (typeof STATES)[number][]): Promise<Record<string, number>>;
}

/**
 * `aigw_queue_jobs{queue,state}`, read from Redis when Prometheus scrapes (never on the request path). Every app that
 * holds the queues registers it (the api-gateway and the router-workers), so the backlog stays visible when no
 * worker runs; all of them read the same Redis, so several in one process (ADR 0010) merge by max, not by sum.
 */
export function registerQueueDepthGauge(
  registry: Registry,
  queues: () => readonly CountedQueue[],
  logger: Pick<Logger, 'warn'>,
): void {
  new Gauge({
    name: MetricName.QueueJobs,
    help: 'Jobs in each queue by state, read at scrape time.',
    labelNames: ['queue', 'state'],
    registers: [registry],
    aggregator: 'max',
    async collect() {
      try {
        const all = queues();
        const counts = await waitAtMost(Promise.all(all.map((q) => q.getJobCounts(...STATES))), SCRAPE_READ_TIMEOUT_MS);
        if (counts === undefined) {
          logger.warn(`queue depth not collected: Redis did not answer within ${SCRAPE_READ_TIMEOUT_MS} ms`);
          return;
        }
        all.forEach((q, i) => {
          for (const state of STATES) {
            this.set({ queue: q.name, state }, counts[i][state] ?? 0);
          }
        });
      } catch (err) {
        // A scrape must not fail because Redis blinked: keep the last values.
        logger.warn(`queue depth not collected: ${describeError(err)}`);
      }
    },
  });
}
