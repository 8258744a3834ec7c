import { Controller, Get, Header, Inject, Module, Global } from '@nestjs/common';
import { collectDefaultMetrics, Registry } from 'prom-client';

export const METRICS_REGISTRY = Symbol('METRICS_REGISTRY');

/**
 * Every metric name the project exports. Names are part of the operator contract (dashboards and
 * alerts depend on them): add, don't rename.
 */
export enum MetricName {
  HttpRequests = 'aigw_http_requests_total',
  HttpDuration = 'aigw_http_request_duration_seconds',
  Requests = 'aigw_requests_total',
  RequestDuration = 'aigw_request_duration_seconds',
  GatewayOverhead = 'aigw_gateway_overhead_seconds',
  Jobs = 'aigw_jobs_total',
  JobDuration = 'aigw_job_duration_seconds',
  ProviderRequests = 'aigw_provider_requests_total',
  ProviderLatency = 'aigw_provider_latency_seconds',
  Tokens = 'aigw_tokens_total',
  CostUsd = 'aigw_cost_usd_total',
  Fallbacks = 'aigw_fallbacks_total',
  Retries = 'aigw_retries_total',
  RoutingDecisions = 'aigw_routing_decisions_total',
  CircuitState = 'aigw_circuit_state',
  CircuitTransitions = 'aigw_circuit_transitions_total',
  ProviderRateLimitRemaining = 'aigw_provider_ratelimit_remaining',
  ProviderRateLimitLimit = 'aigw_provider_ratelimit_limit',
  QueueJobs = 'aigw_queue_jobs',
  UsageRecordsWritten = 'aigw_usage_records_written_total',
  UsageWriteFailures = 'aigw_usage_write_failures_total',
  StreamsCancelled = 'aigw_streams_cancelled_total',
  RedisErrors = 'aigw_redis_errors_total',
  ProviderHealth = 'aigw_provider_health',
  ProviderAlerts = 'aigw_provider_alerts_total',
  HealthProbes = 'aigw_health_probes_total',
  HealthProbeLatency = 'aigw_health_probe_latency_seconds',
  CacheRequests = 'aigw_cache_requests_total',
  CacheBytes = 'aigw_cache_bytes',
  CacheEntries = 'aigw_cache_entries',
}

/** Latency buckets (seconds) from sub-millisecond overhead to multi-minute generations. */
export const LATENCY_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120,
];

@Controller()
export class MetricsController {
  constructor(@Inject(METRICS_REGISTRY) private readonly registry: Registry) {}

  @Get('metrics')
  @Header('content-type', 'text/plain; version=0.0.4; charset=utf-8')
  metrics(): Promise<string> {
    return this.registry.metrics();
  }
}

/** One registry per process, with Node's default process metrics under the `aigw_` prefix. */
@Global()
@Module({
  controllers: [MetricsController],
  providers: [
    {
      provide: METRICS_REGISTRY,
      useFactory: () => {
        const registry = new Registry();
        collectDefaultMetrics({ register: registry, prefix: 'aigw_' });
        return registry;
      },
    },
  ],
  exports: [METRICS_REGISTRY],
})
export class MetricsModule {}
