import { Inject, Injectable, Logger } from '@nestjs/common';
import { METRICS_REGISTRY, MetricName, SCRAPE_READ_TIMEOUT_MS, describeError, waitAtMost } from '@aigw/platform';
import { Gauge, type Registry } from 'prom-client';
import { WorkerQueues } from '../queue/worker-queues';

const STATES = ['waiting', 'active', 'delayed', 'prioritized', 'paused', 'failed', 'completed'] as const;

/** `aigw_queue_jobs{queue,state}`, read from Redis when Prometheus scrapes (never on the request path). */
@Injectable()
export class QueueDepthGauge {
  private readonly logger = new Logger(QueueDepthGauge.name);

  constructor(@Inject(METRICS_REGISTRY) registry: Registry, queues: WorkerQueues) {
    const logger = this.logger;
    new Gauge({
      name: MetricName.QueueJobs,
      help: 'Jobs in each queue by state, read at scrape time.',
      labelNames: ['queue', 'state'],
      registers: [registry],
      async collect() {
        try {
          const counts = await waitAtMost(
            Promise.all(queues.all().map((q) => q.getJobCounts(...STATES))),
            SCRAPE_READ_TIMEOUT_MS,
          );
          if (counts === undefined) {
            logger.warn(`queue depth not collected: Redis did not answer within ${SCRAPE_READ_TIMEOUT_MS} ms`);
            return;
          }
          queues.all().forEach((q, i) => {
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
}
