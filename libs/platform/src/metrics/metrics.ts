import { Controller, Get, Header, Inject, Injectable } from '@nestjs/common';
import { AggregatorRegistry, Registry } from 'prom-client';

export const METRICS_REGISTRY = Symbol('METRICS_REGISTRY');

/**
 * The help of `aigw_requests_total`, which two apps count: the gateway the requests it answers (and async jobs no
 * worker ran: cancelled while queued, or never queued), the worker the async jobs it ran (nobody waits on a gateway
 * for them). One text, so the families merge (single-process mode) and read alike.
 */
export const REQUESTS_HELP =
  'Generation requests answered, by provider, model, status (success or error code) and cache result; the gateway counts those it answers (and async jobs no worker ran), the router-worker the async jobs it ran.';

/**
 * Every metric name the project exports. Names are part of the operator contract (dashboards and
 * alerts depend on them): add, don't rename.
 */
export enum MetricName {
  HttpRequests = 'aigw_http_requests_total',
  HttpDuration = 'aigw_http_request_duration_seconds',
  Requests = 'aigw_requests_total',
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
  /** Worker: seconds left of the wait a deployment's provider asked for (a cooldown; 0 when none). */
  CircuitCooldown = 'aigw_circuit_cooldown_seconds',
  ProviderRateLimitRemaining = 'aigw_provider_ratelimit_remaining',
  ProviderRateLimitLimit = 'aigw_provider_ratelimit_limit',
  QueueJobs = 'aigw_queue_jobs',
  UsageRecordsWritten = 'aigw_usage_records_written_total',
  UsageWriteFailures = 'aigw_usage_write_failures_total',
  /** Gateway: generations it cancelled (client gone, deadline), by `reason`. */
  StreamsCancelled = 'aigw_streams_cancelled_total',
  /**
   * Worker: streamed generations it aborted (a cancel message, the deadline, shutdown). Its own name: under the
   * gateway's, one cancelled stream counted twice (once per side), summed into one family in the all-in-one process.
   */
  WorkerStreamsAborted = 'aigw_worker_streams_aborted_total',
  RedisErrors = 'aigw_redis_errors_total',
  ProviderHealth = 'aigw_provider_health',
  ProviderAlerts = 'aigw_provider_alerts_total',
  HealthProbes = 'aigw_health_probes_total',
  HealthProbeLatency = 'aigw_health_probe_latency_seconds',
  CacheRequests = 'aigw_cache_requests_total',
  CacheBytes = 'aigw_cache_bytes',
  CacheEntries = 'aigw_cache_entries',
  /** Gateway: sync and streamed requests the process holds now (`MAX_PENDING_REQUESTS` bounds it). */
  GatewayPendingRequests = 'aigw_gateway_pending_requests',
}

/**
 * How long a gauge read from Redis or PostgreSQL at scrape time waits for it. A store that does not answer (stalled,
 * a half-open network) must not hold the scrape past Prometheus' scrape timeout (10 s by default): the whole target
 * would be down, every series of the process missing. Past this the gauge keeps its last values, or has none.
 */
export const SCRAPE_READ_TIMEOUT_MS = 2_000;

/**
 * Latency buckets (seconds) from sub-millisecond overhead to hour-long generations: a sync request may be given up to
 * an hour (REQUEST_TIMEOUT_MS), a stream lasts until its end (a provider's timeoutMs is an idle timeout there), and
 * async jobs run longer. Past the top bucket every quantile reads as that bucket: with 120 s on top, a 4-minute
 * answer and a 20-minute one were the same `+Inf`. No bucket is more than 3 times the one before.
 */
export const LATENCY_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600,
];

/**
 * What `/metrics` serves: this app's registry, plus the registries of the other apps hosted in the same process
 * (single-process mode, ADR 0010), merged into one exposition.
 */
@Injectable()
export class MetricsExposition {
  private readonly registries: Registry[];

  constructor(@Inject(METRICS_REGISTRY) registry: Registry) {
    this.registries = [registry];
  }

  /** Adds another app's registry; it must not collect the default process metrics again. */
  include(registry: Registry): void {
    this.registries.push(registry);
  }

  metrics(): Promise<string> {
    return this.registries.length === 1 ? this.registries[0].metrics() : mergedMetrics(this.registries);
  }
}

/**
 * One exposition of several registries. A family only one registry has is served as it is; one several have (e.g.
 * `aigw_redis_errors_total`, counted by every app) becomes one family whose samples are summed per label set: the
 * process-wide count, except a family that asks for `max` (a gauge each app reads from the same Redis, such as
 * `aigw_queue_jobs`: the same figure, not shares of it). prom-client's cluster aggregation does the work; every
 * other family's aggregator is set here, since its own (`omit` for the process start time, `average` for the event
 * loop lag) is meant for several processes.
 */
export async function mergedMetrics(registries: readonly Registry[]): Promise<string> {
  const collected = await Promise.all(registries.map((r) => r.getMetricsAsJSON()));
  const seen = new Map<string, number>();
  for (const family of collected.flat()) {
    seen.set(family.name, (seen.get(family.name) ?? 0) + 1);
  }
  const tagged = collected.map((families) =>
    families.map((family) => ({ ...family, aggregator: aggregatorOf(family, seen.get(family.name) ?? 0) })),
  );
  return AggregatorRegistry.aggregate(tagged).metrics();
}

function aggregatorOf(family: { aggregator: string }, registries: number): string {
  if (registries <= 1) {
    return 'first';
  }
  return family.aggregator === 'max' ? 'max' : 'sum';
}

@Controller()
export class MetricsController {
  constructor(private readonly exposition: MetricsExposition) {}

  @Get('metrics')
  @Header('content-type', 'text/plain; version=0.0.4; charset=utf-8')
  metrics(): Promise<string> {
    return this.exposition.metrics();
  }
}
