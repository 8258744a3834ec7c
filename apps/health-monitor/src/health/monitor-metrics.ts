import { Inject, Injectable } from '@nestjs/common';
import { healthGaugeValue, type HealthAlertKind, type HealthRoute } from '@aigw/core';
import { ProviderHealthStore } from '@aigw/entities';
import {
  CatalogService,
  LATENCY_BUCKETS,
  METRICS_REGISTRY,
  MetricName,
  SCRAPE_READ_TIMEOUT_MS,
  waitAtMost,
} from '@aigw/platform';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { probedSubjects } from './probed-subjects';

/**
 * The monitor's metrics. The health gauge is read from PostgreSQL on each scrape, so every replica reports the
 * same, current value whichever replica ran the last probe: `aigw_provider_health{provider}` for providers and
 * `{provider="gateway:<id>"}` for gateways (0 unknown, 1 healthy, 2 degraded, 3 failing). Only what the monitor
 * probes has a series (enabled providers, gateways an enabled provider routes through): one disabled or no longer
 * used is never probed again, and went on reporting its last status (`failing` for three of its intervals, then 0
 * for good). PostgreSQL unreachable or slower than 2 s: the gauge has no series in that scrape, and the rest of it
 * is served (it was a 500 before).
 */
@Injectable()
export class MonitorMetrics {
  readonly alerts: Counter<'provider' | 'kind'>;
  readonly probes: Counter<'provider' | 'route' | 'outcome'>;
  readonly probeLatency: Histogram<'route'>;

  constructor(@Inject(METRICS_REGISTRY) registry: Registry, store: ProviderHealthStore, catalog: CatalogService) {
    new Gauge({
      name: MetricName.ProviderHealth,
      help: 'Health of each provider (and gateway:<id>) as the monitor last recorded it: 0 unknown, 1 healthy, 2 degraded, 3 failing',
      labelNames: ['provider'] as const,
      registers: [registry],
      async collect() {
        this.reset();
        // PostgreSQL down or slow: this gauge has no series for the scrape, every other metric is still served.
        const read = await waitAtMost(
          Promise.all([store.providerHealth(), store.gatewayStatuses()]),
          SCRAPE_READ_TIMEOUT_MS,
        ).catch(() => undefined);
        if (read === undefined) {
          return;
        }
        const [providers, gateways] = read;
        const probed = probedSubjects(catalog.current);
        for (const [id, h] of providers) {
          if (probed.providers.has(id)) {
            this.set({ provider: id }, healthGaugeValue(h.status));
          }
        }
        for (const [id, status] of gateways) {
          if (probed.gateways.has(id)) {
            this.set({ provider: `gateway:${id}` }, healthGaugeValue(status));
          }
        }
      },
    });
    this.alerts = new Counter({
      name: MetricName.ProviderAlerts,
      help: 'Health alerts raised: kind failing (a provider turned failing) or recovered; one per transition across replicas',
      labelNames: ['provider', 'kind'] as const,
      registers: [registry],
    });
    this.probes = new Counter({
      name: MetricName.HealthProbes,
      help: 'Health probes by provider (or gateway:<id>), route and outcome (ok, failed)',
      labelNames: ['provider', 'route', 'outcome'] as const,
      registers: [registry],
    });
    this.probeLatency = new Histogram({
      name: MetricName.HealthProbeLatency,
      help: 'Latency of successful health probes by route (failed probes are counted in aigw_health_probes_total only)',
      labelNames: ['route'] as const,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    });
  }

  /**
   * Counts a probe by outcome; only a successful probe's latency is observed. A failed probe's duration is not the
   * provider's latency: a refused connection or an unknown gateway ends in ~0 ms, a timeout at the timeout, and
   * mixed into the histogram they drag its percentiles to whatever the failures took (Prometheus practice: track
   * failures apart from the latency of what succeeded). The failure rate is in `aigw_health_probes_total`.
   */
  probed(subject: string, route: HealthRoute, ok: boolean, latencyMs: number | null): void {
    this.probes.inc({ provider: subject, route, outcome: ok ? 'ok' : 'failed' });
    if (ok && latencyMs !== null) {
      this.probeLatency.observe({ route }, latencyMs / 1000);
    }
  }

  alerted(subject: string, kind: HealthAlertKind): void {
    this.alerts.inc({ provider: subject, kind });
  }
}
