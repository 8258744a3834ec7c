import { Inject, Injectable } from '@nestjs/common';
import { LATENCY_BUCKETS, METRICS_REGISTRY, MetricName, tagFrameworkErrors } from '@aigw/platform';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Counter, Histogram, type Registry } from 'prom-client';

/** Label for requests that matched no route: raw URLs would make the label set unbounded. */
const UNMATCHED = 'unmatched';

/**
 * `aigw_http_requests_total{route,method,status}` and `aigw_http_request_duration_seconds{route}`,
 * observed in Fastify's `onResponse` hook (cheaper than a Nest interceptor per request). Labelled by
 * route pattern (`/api/v1/ai/jobs/:id`), never by raw URL.
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
      help: 'HTTP requests answered by the api-gateway, by route pattern, method and status.',
      labelNames: ['route', 'method', 'status'],
      registers: [registry],
    });
    this.duration = new Histogram({
      name: MetricName.HttpDuration,
      help: 'HTTP request duration in seconds (to the last byte, whole stream for SSE), by route pattern.',
      labelNames: ['route'],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    });
  }

  install(fastify: FastifyInstance): void {
    fastify.addHook('onResponse', (req: FastifyRequest, reply: FastifyReply, done: () => void) => {
      this.observe(req.routeOptions.url ?? UNMATCHED, req.method, reply.statusCode, performance.now() - req.startedAt);
      done();
    });
    // What the router refuses before any hook (a bad percent-encoding, a path segment over the limit) gets no
    // `onResponse`: counted as the answer finishes, as an unmatched route. Rare: nothing on other requests.
    tagFrameworkErrors(fastify, (req, reply) => {
      reply.raw.once('finish', () => {
        this.observe(UNMATCHED, req.method, reply.statusCode, performance.now() - req.startedAt);
      });
    });
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
