import { Inject, Injectable } from '@nestjs/common';
import {
  KEY_SEPARATOR as SEP,
  LATENCY_BUCKETS,
  METRICS_REGISTRY,
  MetricName,
  REQUESTS_HELP,
  TalliedCounter,
} from '@aigw/platform';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { JobObserver } from '../queue/queue-processor';

/** The router-worker's metrics, registered once on the process registry. */
@Injectable()
export class WorkerMetrics {
  // The counters every request adds to are tallied (TalliedCounter: no label hashing per call).
  readonly jobs: TalliedCounter<'queue' | 'name' | 'outcome'>;
  readonly jobDuration: Histogram<'name'>;
  readonly providerRequests: TalliedCounter<'provider' | 'model' | 'status'>;
  readonly providerLatency: Histogram<'provider' | 'model' | 'outcome'>;
  readonly tokens: TalliedCounter<'provider' | 'model' | 'type'>;
  readonly costUsd: TalliedCounter<'provider' | 'model'>;
  readonly usageWritten: Counter;
  readonly usageWriteFailures: Counter;
  readonly streamsAborted: Counter;
  readonly routingDecisions: TalliedCounter<'policy' | 'outcome'>;
  readonly fallbacks: Counter<'provider' | 'model' | 'error_class' | 'kind'>;
  readonly retries: Counter<'provider' | 'model' | 'error_class'>;
  readonly circuitTransitions: Counter<'deployment' | 'from' | 'to'>;
  private readonly requests: Counter<'provider' | 'model' | 'status' | 'cache'>;

  /** Reports a finished job (the JobObserver of every queue processor). */
  readonly observeJob: JobObserver = (queue, name, outcome, seconds) => {
    this.jobs.add(`${queue}${SEP}${name}${SEP}${outcome}`, { queue, name, outcome });
    this.jobDuration.observe({ name }, seconds);
  };

  /**
   * An async job's request (POST /api/v1/ai/jobs) by its final outcome, labelled as the gateway labels a sync request
   * it answers: the gateway only accepted it (202) and counts it nowhere. Never looked up in the cache: `bypass`.
   */
  asyncRequest(labels: { provider: string; model: string; status: string }): void {
    this.requests.inc({ provider: labels.provider, model: labels.model, status: labels.status, cache: 'bypass' });
  }

  constructor(@Inject(METRICS_REGISTRY) registry: Registry) {
    const registers = [registry];
    this.requests = new Counter({
      name: MetricName.Requests,
      help: REQUESTS_HELP,
      labelNames: ['provider', 'model', 'status', 'cache'],
      registers,
    });
    this.jobs = new TalliedCounter({
      name: MetricName.Jobs,
      help: 'Jobs processed, by queue, job name and outcome (failed = the processor crashed, cancelled = the client left).',
      labelNames: ['queue', 'name', 'outcome'],
      registers,
    });
    this.jobDuration = new Histogram({
      name: MetricName.JobDuration,
      help: 'Time from a job being taken to its end, in seconds.',
      labelNames: ['name'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.providerRequests = new TalliedCounter({
      name: MetricName.ProviderRequests,
      help: 'Provider calls by provider, model and status (success or the error class).',
      labelNames: ['provider', 'model', 'status'],
      registers,
    });
    this.providerLatency = new Histogram({
      name: MetricName.ProviderLatency,
      help: 'Provider call duration in seconds (whole stream for streamed answers).',
      labelNames: ['provider', 'model', 'outcome'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.tokens = new TalliedCounter({
      name: MetricName.Tokens,
      help: 'Tokens reported by providers, by type (prompt, completion, cached).',
      labelNames: ['provider', 'model', 'type'],
      registers,
    });
    this.costUsd = new TalliedCounter({
      name: MetricName.CostUsd,
      help: 'Cost of successful generations in USD.',
      labelNames: ['provider', 'model'],
      registers,
    });
    this.usageWritten = new Counter({
      name: MetricName.UsageRecordsWritten,
      help: "Requests' usage records inserted into PostgreSQL (their failed attempts' rows and duplicates of already written records not counted).",
      registers,
    });
    this.usageWriteFailures = new Counter({
      name: MetricName.UsageWriteFailures,
      help: 'Usage batch inserts that failed; their jobs are retried later.',
      registers,
    });
    this.streamsAborted = new Counter({
      name: MetricName.WorkerStreamsAborted,
      help: 'Streamed generations aborted by a cancel message, the deadline or shutdown.',
      registers,
    });
    this.routingDecisions = new TalliedCounter({
      name: MetricName.RoutingDecisions,
      help: 'Routing decisions by policy and outcome (routed, or the error code when nothing could be called).',
      labelNames: ['policy', 'outcome'],
      registers,
    });
    this.fallbacks = new Counter({
      name: MetricName.Fallbacks,
      help: 'Moves away from a failed deployment (kind=deployment) or from its failed direct/gateway route (kind=route).',
      labelNames: ['provider', 'model', 'error_class', 'kind'],
      registers,
    });
    this.retries = new Counter({
      name: MetricName.Retries,
      help: 'Retries of the same deployment after a retryable failure, by the failure class.',
      labelNames: ['provider', 'model', 'error_class'],
      registers,
    });
    this.circuitTransitions = new Counter({
      name: MetricName.CircuitTransitions,
      help: 'Circuit breaker state changes caused by this process (sum over workers for the fleet).',
      labelNames: ['deployment', 'from', 'to'],
      registers,
    });
  }
}
