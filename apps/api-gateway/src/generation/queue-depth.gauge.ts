import { Inject, Injectable, Logger } from '@nestjs/common';
import { METRICS_REGISTRY, registerQueueDepthGauge } from '@aigw/platform';
import type { Registry } from 'prom-client';
import { GenerationQueue } from './generation-queue';
import { UsageQueue } from './usage-queue';

/**
 * `aigw_queue_jobs{queue,state}` on the gateway too, read from Redis when Prometheus scrapes (never on the request
 * path): the jobs waiting are visible when no router-worker runs, the one time nothing else would show them.
 */
@Injectable()
export class GatewayQueueDepthGauge {
  private readonly logger = new Logger('QueueDepthGauge');

  constructor(@Inject(METRICS_REGISTRY) registry: Registry, generation: GenerationQueue, usage: UsageQueue) {
    registerQueueDepthGauge(registry, () => [generation.counted(), usage.counted()], this.logger);
  }
}
