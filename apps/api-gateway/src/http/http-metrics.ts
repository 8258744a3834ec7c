import { Inject, Injectable } from '@nestjs/common';
import { LATENCY_BUCKETS, METRICS_REGISTRY, MetricName, tagFrameworkErrors } from '@aigw/platform';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Counter, Histogram, type Registry } from 'prom-client';

/** Label for requests that matched no route: raw URLs would make the label set unbounded. */
const UNMATCHED = 'unmatched';

/**
 * The status of a request whose client left before its answer began (nginx's 499, Client Closed Request): it was
 * never answered, and no status code of HTTP's own says so.
 */
export const CLIENT_CLOSED_STATUS = 499;

/**
 * `aigw_http_requests_total{route,method,status}` and `aigw_http_request_duration_seconds{route}`, observed as each
 * response closes: once per request, whether its answer was sent whole or its client left before the end (a stream
 * it stopped, an answer it did not wait for), which Fastify's `onResponse` hook never reports. Labelled by route
 * pattern (`/api/v1/ai/jobs/:id`), never by raw URL; a request whose client left is counted by the status it was
 * sent, or 499 when nothing was.
 */
@Injectable()
export class HttpMetrics {
  private readonly requests: Counter<'route' | 'method' | 'status'>;
  private readonly duration: Histogram<'route'>;
  // Resolving a labelled child hashes its labels; the set of (route, method, status) is small, so keep them.
  private readonly counters = new Map<string, Counter.Internal>();
  private readonly timers = new Map<string, Histogram.Internal<'route'>>();

  constructor(@Inject(METRICS_REGISTRY) registry: Registry) {
    this.requests = new Counter({
      name: MetricName.HttpRequests,
      help: 'HTTP requests answered by the api-gateway, by route pattern, method and status (499: the client left before the answer began).',
      labelNames: ['route', 'method', 'status'],
      registers: [registry],
    });
    this.duration = new Histogram({
      name: MetricName.HttpDuration,
      help: 'HTTP request duration in seconds (to the last byte, whole stream for SSE, or until the client left), by route pattern.',
      labelNames: ['route'],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    });
  }

  install(fastify: FastifyInstance): void {
    // A response closes exactly once, after its last byte or when its client left (`onResponse` fires only for the
    // first): one listener per request, in place of that hook.
    fastify.addHook('onRequest', (req: FastifyRequest, reply: FastifyReply, done: () => void) => {
      reply.raw.once('close', () => this.closed(req.routeOptions.url ?? UNMATCHED, req, reply));
      done();
    });
    // What the router refuses before any hook (a bad percent-encoding, a path segment over the limit) gets no
    // `onRequest`: counted as its answer closes, as an unmatched route. Rare: nothing on other requests.
    tagFrameworkErrors(fastify, (req, reply) => {
      reply.raw.once('close', () => this.closed(UNMATCHED, req, reply));
    });
  }

  private closed(route: string, req: FastifyRequest, reply: FastifyReply): void {
    const raw = reply.raw;
    // Hijacked streams wrote their status on `raw` themselves.
    const status = raw.headersSent ? raw.statusCode : CLIENT_CLOSED_STATUS;
    this.observe(route, req.method, status, performance.now() - req.startedAt);
  }

  observe(route: string, method: string, status: number, elapsedMs: number): void {
    const key = `${method} ${status} ${route}`;
    let counter = this.counters.get(key);
    if (!counter) {
      counter = this.requests.labels({ route, method, status: String(status) });
      this.counters.set(key, counter);
    }
    counter.inc();
    let timer = this.timers.get(route);
    if (!timer) {
      timer = this.duration.labels({ route });
      this.timers.set(route, timer);
    }
    timer.observe(elapsedMs / 1000);
  }
}
