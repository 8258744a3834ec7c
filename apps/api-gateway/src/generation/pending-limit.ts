import { Inject, Injectable } from '@nestjs/common';
import { ErrorCode, GatewayError } from '@aigw/core';
import { ENV, METRICS_REGISTRY, MetricName } from '@aigw/platform';
import { Gauge, type Registry } from 'prom-client';
import { GatewayEnv } from '../config/gateway-env';
import type { Client } from '../http/client';
import { ReplyHub } from './reply-hub';

/** What a request refused for the bound is told to wait: the time a few held requests take to end. */
const OVERLOADED_RETRY_AFTER_MS = 1_000;

/**
 * The bounds on the sync and streamed requests one gateway process holds in memory: their count
 * (`MAX_PENDING_REQUESTS`) and their bodies' bytes (`MAX_PENDING_BYTES`, for bodies larger than the count's 32 KB
 * prompts: 5,000 of MAX_BODY_BYTES' 2 MiB are 10 GB). Each
 * takes ~66 KB of heap while it arrives with a 32 KB prompt, and nothing else stops a spike from growing the process
 * past its heap or memory limit (V8 or the kernel then ends it, and every request it held is lost). Counted by the reply hub, which already tracks every such
 * request from its arrival until its waiter ends, whichever way (answer, error, deadline, client gone, shutdown).
 * Async submissions are not held and are never refused here; health and metrics routes never come here.
 *
 * Cost per request: one comparison of an integer and three map sizes; with MAX_PENDING_BYTES, an addition, a
 * comparison and one 'close' listener (a closure) on the response. The gauge `aigw_gateway_pending_requests` is read
 * at scrape time only.
 */
@Injectable()
export class PendingLimit {
  private readonly max: number;
  private readonly maxBytes: number;
  /** The bodies' bytes of the requests held (`hold`), until their responses closed. */
  private heldBytes = 0;

  constructor(
    @Inject(ENV) env: GatewayEnv,
    private readonly hub: ReplyHub,
    @Inject(METRICS_REGISTRY) registry: Registry,
  ) {
    this.max = env.MAX_PENDING_REQUESTS;
    this.maxBytes = env.MAX_PENDING_BYTES;
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
   * `503 gateway_overloaded` (Retry-After: 1) when the process holds its bound already, or when a body of `bytes`
   * would take the bodies held past MAX_PENDING_BYTES; else null: ask before the request is admitted, counted or
   * queued, so that a refusal has nothing to give back.
   */
  refusal(bytes: number): GatewayError | null {
    if (this.max > 0 && this.hub.held >= this.max) {
      return overloaded('MAX_PENDING_REQUESTS');
    }
    if (this.maxBytes > 0 && this.heldBytes + bytes > this.maxBytes) {
      return overloaded('MAX_PENDING_BYTES');
    }
    return null;
  }

  /**
   * Counts a request's body of `bytes` against MAX_PENDING_BYTES until `client`'s response closes (answered, failed
   * or its client gone: then the request, its parsed body and its job's data are garbage). One listener per request.
   */
  hold(bytes: number, client: Pick<Client, 'onClosed'>): void {
    if (this.maxBytes === 0 || bytes === 0) {
      return;
    }
    this.heldBytes += bytes;
    client.onClosed(() => {
      this.heldBytes -= bytes;
    });
  }

  /** The bodies' bytes held now (MAX_PENDING_BYTES' count). */
  get bytes(): number {
    return this.heldBytes;
  }
}

function overloaded(bound: 'MAX_PENDING_REQUESTS' | 'MAX_PENDING_BYTES'): GatewayError {
  const what = bound === 'MAX_PENDING_REQUESTS' ? 'as many requests' : 'as many bytes of requests';
  return new GatewayError(
    ErrorCode.GatewayOverloaded,
    `This gateway holds ${what} as it may (${bound}); retry shortly.`,
    {
      retryAfterMs: OVERLOADED_RETRY_AFTER_MS,
    },
  );
}
