import { Inject, Injectable } from '@nestjs/common';
import { ErrorCode, GatewayError } from '@aigw/core';
import { ENV, METRICS_REGISTRY, MetricName } from '@aigw/platform';
import { Gauge, type Registry } from 'prom-client';
import { GatewayEnv } from '../config/gateway-env';
import { ReplyHub } from './reply-hub';

/** What a request refused for the bound is told to wait: the time a few held requests take to end. */
const OVERLOADED_RETRY_AFTER_MS = 1_000;

/**
 * The bound on the sync and streamed requests one gateway process holds in memory (`MAX_PENDING_REQUESTS`): each
 * takes ~66 KB of heap while it arrives with a 32 KB prompt, and nothing else stops a spike from growing the process
 * past its heap or memory limit (V8 or the kernel then ends it, and every request it held is lost). Counted by the reply hub, which already tracks every such
 * request from its arrival until its waiter ends, whichever way (answer, error, deadline, client gone, shutdown).
 * Async submissions are not held and are never refused here; health and metrics routes never come here.
 *
 * Cost per request: one comparison of an integer and three map sizes; nothing is allocated unless refused. The
 * gauge `aigw_gateway_pending_requests` is read at scrape time only.
 */
@Injectable()
export class PendingLimit {
  private readonly max: number;

  constructor(
    @Inject(ENV) env: GatewayEnv,
    private readonly hub: ReplyHub,
    @Inject(METRICS_REGISTRY) registry: Registry,
  ) {
    this.max = env.MAX_PENDING_REQUESTS;
    new Gauge({
      name: MetricName.GatewayPendingRequests,
      help: 'Sync and streamed requests this gateway process holds (waiting for a worker or running); MAX_PENDING_REQUESTS bounds it.',
      registers: [registry],
      collect() {
        this.set(hub.held);
      },
    });
  }

  /**
   * `503 gateway_overloaded` (Retry-After: 1) when the process holds its bound already, else null: ask before the
   * request is admitted, counted or queued, so that a refusal has nothing to give back.
   */
  refusal(): GatewayError | null {
    if (this.max > 0 && this.hub.held >= this.max) {
      return new GatewayError(
        ErrorCode.GatewayOverloaded,
        'This gateway holds as many requests as it may (MAX_PENDING_REQUESTS); retry shortly.',
        { retryAfterMs: OVERLOADED_RETRY_AFTER_MS },
      );
    }
    return null;
  }
}
