import { Inject, Injectable } from '@nestjs/common';
import type { QuotaWindow } from '@aigw/core';
import { CatalogService, METRICS_REGISTRY, MetricName } from '@aigw/platform';
import { Gauge, type Registry } from 'prom-client';
import { ProviderQuotaBook } from '../routing/quota-book';

const KINDS = ['requests', 'tokens'] as const;

/**
 * `aigw_provider_ratelimit_remaining` and `aigw_provider_ratelimit_limit` `{provider, route, kind}`: the rate limits
 * the providers' response headers last reported to this worker, read from memory when Prometheus scrapes. A
 * provider never called, or whose headers say nothing, has no series. Every worker reports what it saw; aggregate
 * with min() for the remaining figure.
 */
@Injectable()
export class ProviderQuotaGauge {
  constructor(@Inject(METRICS_REGISTRY) registry: Registry, catalog: CatalogService, book: ProviderQuotaBook) {
    const gauge = (name: MetricName, help: string, pick: (w: QuotaWindow) => number | null): void => {
      new Gauge({
        name,
        help,
        labelNames: ['provider', 'route', 'kind'],
        registers: [registry],
        collect() {
          // Providers removed from the catalog must not linger with their last value.
          this.reset();
          const known = new Set(catalog.current.providers.map((p) => p.id));
          for (const slot of book.snapshots()) {
            if (!known.has(slot.providerId)) {
              continue;
            }
            for (const kind of KINDS) {
              const w = slot.snapshot[kind];
              const value = w === null ? null : pick(w);
              if (value !== null) {
                this.set({ provider: slot.providerId, route: slot.route, kind }, value);
              }
            }
          }
        },
      });
    };
    gauge(
      MetricName.ProviderRateLimitRemaining,
      "Requests or tokens left in the provider's rate-limit window, as its response headers last said (the window " +
        'may have reset since).',
      (w) => w.remaining,
    );
    gauge(
      MetricName.ProviderRateLimitLimit,
      "Size of the provider's rate-limit window (requests or tokens), as its response headers last said.",
      (w) => w.limit,
    );
  }
}
