import { Inject, Injectable } from '@nestjs/common';
import { CLIENT_CLOSED_REQUEST, ErrorCode, type GatewayError, type GenerationResult } from '@aigw/core';
import { LATENCY_BUCKETS, METRICS_REGISTRY, MetricName, REQUESTS_HELP } from '@aigw/platform';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { CacheStatus } from '../http/result-headers';
import { ClientGoneError, type AbandonReason } from './reply-waiter';

/** Provider/model labels of a request that got no answer (never the requested model: clients choose it freely). */
const NONE = 'none';

/** Generation-level metrics as the gateway sees them (the worker exports the provider-side ones). */
@Injectable()
export class GatewayMetrics {
  private readonly requests: Counter<'provider' | 'model' | 'status' | 'cache'>;
  private readonly overhead: Histogram;
  private readonly streamsCancelled: Counter<'reason'>;
  // Labelled children by provider/model (a small set): resolving a child hashes its labels every time.
  private readonly successes = new Map<string, Counter.Internal>();

  constructor(@Inject(METRICS_REGISTRY) registry: Registry) {
    this.requests = new Counter({
      name: MetricName.Requests,
      help: REQUESTS_HELP,
      labelNames: ['provider', 'model', 'status', 'cache'],
      registers: [registry],
    });
    this.overhead = new Histogram({
      name: MetricName.GatewayOverhead,
      help: 'Time the gateway side added to a request: end-to-end latency minus the provider call, in seconds.',
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    });
    this.streamsCancelled = new Counter({
      name: MetricName.StreamsCancelled,
      help: 'Generations the gateway cancelled because the client went away or the deadline passed.',
      labelNames: ['reason'],
      registers: [registry],
    });
  }

  /** `startedAt` is the request's `performance.now()` on arrival. */
  succeeded(result: GenerationResult, startedAt: number, cache: CacheStatus): void {
    const key = `${result.provider}/${result.model}/${cache}`;
    let counter = this.successes.get(key);
    if (counter === undefined) {
      counter = this.requests.labels({
        provider: result.provider,
        model: result.model,
        status: 'success',
        cache,
      });
      this.successes.set(key, counter);
    }
    counter.inc();
    const overheadMs = performance.now() - startedAt - result.providerLatencyMs;
    this.overhead.observe(Math.max(0, overheadMs) / 1000);
  }

  /**
   * A client that left is `client_closed_request`, as its usage row says, not the `timeout` its error carries: a
   * user pressing stop is no deadline passed, and must not page whoever watches for timeouts. Null: an error that is
   * no GatewayError (`internal_error`).
   */
  failed(error: GatewayError | null, cache: CacheStatus): void {
    const status = error instanceof ClientGoneError ? CLIENT_CLOSED_REQUEST : (error?.code ?? ErrorCode.Internal);
    this.requests.inc({ provider: NONE, model: NONE, status, cache });
  }

  /**
   * An async job its owner cancelled before any worker took it (removed from the queue): no worker will count it, so
   * the gateway does, with the labels a worker gives one it was running when the cancel came (`client_closed_request`,
   * never looked up in the cache). Counted by the one cancel that removed it.
   */
  asyncCancelled(): void {
    this.requests.inc({ provider: NONE, model: NONE, status: CLIENT_CLOSED_REQUEST, cache: 'bypass' });
  }

  cancelled(reason: AbandonReason): void {
    this.streamsCancelled.inc({ reason });
  }
}
