import { Inject, Injectable, Logger } from '@nestjs/common';
import { METRICS_REGISTRY, registerQueueDepthGauge } from '@aigw/platform';
import type { Registry } from 'prom-client';
import { WorkerQueues } from '../queue/worker-queues';

/** `aigw_queue_jobs{queue,state}`, read from Redis when Prometheus scrapes (never on the request path). */
@Injectable()
export class QueueDepthGauge {
  private readonly logger = new Logger(QueueDepthGauge.name);

  constructor(@Inject(METRICS_REGISTRY) registry: Registry, queues: WorkerQueues) {
    registerQueueDepthGauge(registry, () => queues.all(), this.logger);
  }
}
