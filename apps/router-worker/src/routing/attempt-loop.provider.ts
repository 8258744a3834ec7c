import type { Provider } from '@nestjs/common';
import type { ErrorClass } from '@aigw/core';
import { AdapterRegistry } from '@aigw/adapters';
import { CatalogService, KEY_SEPARATOR as SEP } from '@aigw/platform';
import { WorkerMetrics } from '../metrics/worker-metrics';
import { AttemptLoop } from './attempt-loop';
import type { AttemptEvents } from './attempt-ports';
import { CircuitGuard } from './circuit-guard';
import { LatencyBook } from './latency-book';
import { ProviderQuotaBook } from './quota-book';
import { RouteBook } from './route-book';
import { ROUTING_CONFIG, type RoutingConfig } from './routing-config';
import { sleep } from './sleep';

function metricEvents(metrics: WorkerMetrics): AttemptEvents {
  // Label objects written out whole: `{ ...labels, status }` is slow on Node 20 (libs/core objects.ts).
  return {
    call(d, status, ms) {
      const outcome = status === 'success' ? 'success' : 'error';
      const provider = d.provider.id;
      const model = d.model.name;
      metrics.providerRequests.add(`${provider}${SEP}${model}${SEP}${status}`, { provider, model, status });
      metrics.providerLatency.observe({ provider, model, outcome }, ms / 1000);
    },
    retry(d, errorClass: ErrorClass) {
      metrics.retries.inc({ provider: d.provider.id, model: d.model.name, error_class: errorClass });
    },
    fallback(d, errorClass: ErrorClass, kind) {
      metrics.fallbacks.inc({ provider: d.provider.id, model: d.model.name, error_class: errorClass, kind });
    },
  };
}

/**
 * The attempt loop wired to the worker's adapters, Redis stores, catalog, metrics and real time: GenerationService
 * injects AttemptLoop itself (a factory, not a class that forwards to it).
 */
export const ATTEMPT_LOOP_PROVIDER: Provider<AttemptLoop> = {
  provide: AttemptLoop,
  inject: [
    AdapterRegistry,
    CircuitGuard,
    RouteBook,
    LatencyBook,
    ProviderQuotaBook,
    CatalogService,
    WorkerMetrics,
    ROUTING_CONFIG,
  ],
  useFactory: (
    adapters: AdapterRegistry,
    circuit: CircuitGuard,
    routes: RouteBook,
    latency: LatencyBook,
    quota: ProviderQuotaBook,
    catalog: CatalogService,
    metrics: WorkerMetrics,
    config: RoutingConfig,
  ) =>
    new AttemptLoop({
      adapters,
      circuit,
      routes,
      latency,
      quota,
      gateways: () => catalog.current.gateways,
      inForce: (d) => catalog.routing(d.id),
      events: metricEvents(metrics),
      clock: { now: Date.now, monotonic: () => performance.now() },
      sleep,
      random: Math.random,
      config: { maxAttempts: config.maxAttempts, retry: config.retry, cooldownMaxMs: config.circuit.openMs },
    }),
};
