import { readFileSync } from 'node:fs';
import path from 'node:path';
import { MetricName } from '@aigw/platform';
import { Counter, Histogram, Registry } from 'prom-client';
import { CacheStats } from '../../api-gateway/src/cache/cache-stats';
import { GatewayMetrics } from '../../api-gateway/src/generation/gateway-metrics';
import { PendingLimit } from '../../api-gateway/src/generation/pending-limit';
import { GatewayQueueDepthGauge } from '../../api-gateway/src/generation/queue-depth.gauge';
import { HttpMetrics } from '../../api-gateway/src/http/http-metrics';
import { MonitorMetrics } from '../../health-monitor/src/health/monitor-metrics';
import { CircuitStateGauge } from '../../router-worker/src/metrics/circuit-state.gauge';
import { ProviderQuotaGauge } from '../../router-worker/src/metrics/provider-quota.gauge';
import { QueueDepthGauge } from '../../router-worker/src/metrics/queue-depth.gauge';
import { WorkerMetrics } from '../../router-worker/src/metrics/worker-metrics';

interface Documented {
  type: string;
  labels: string[];
}

/** The README's table of metric families: name -> type and labels, as an operator reads them. */
function documentedFamilies(): Map<string, Documented> {
  const readme = readFileSync(path.join(__dirname, '../../../README.md'), 'utf8');
  const families = new Map<string, Documented>();
  for (const m of readme.matchAll(/^\| `(aigw_[a-z_]+)` \| (counter|gauge|histogram) \|([^|]*)\|/gm)) {
    expect(families.has(m[1])).toBe(false);
    const labels = [...m[3].matchAll(/`([a-z_]+)`/g)].map((l) => l[1]);
    families.set(m[1], { type: m[2], labels });
  }
  return families;
}

/**
 * The families the apps register, built as each app builds them (the dependencies their constructors keep for
 * later, scrape time or requests, are never called here). The cache's size gauges and the Redis error counter
 * are registered by modules that connect at once: their names are checked, not their labels.
 */
function registeredFamilies(): Registry[] {
  const unused = {} as never;
  const gateway = new Registry();
  new HttpMetrics(gateway);
  new GatewayMetrics(gateway);
  new CacheStats(unused, { key: (k: string) => k } as never, unused, gateway, { add: () => undefined } as never);
  new GatewayQueueDepthGauge(gateway, unused, unused);
  new PendingLimit({ MAX_PENDING_REQUESTS: 0 } as never, unused, gateway);
  const worker = new Registry();
  new WorkerMetrics(worker);
  new CircuitStateGauge(worker, unused, unused);
  new ProviderQuotaGauge(worker, unused, unused);
  new QueueDepthGauge(worker, unused);
  const monitor = new Registry();
  new MonitorMetrics(monitor, unused, unused);
  return [gateway, worker, monitor];
}

/** prom-client keeps a metric's label names on the object; its public API only shows them by collecting. */
function labelsOf(metric: unknown): string[] {
  return [...(metric as { labelNames: string[] }).labelNames];
}

function typeOf(metric: unknown): string {
  if (metric instanceof Counter) {
    return 'counter';
  }
  return metric instanceof Histogram ? 'histogram' : 'gauge';
}

describe('the README metrics reference', () => {
  const documented = documentedFamilies();

  it('documents every metric family the project exports, and no other', () => {
    expect([...documented.keys()].sort()).toEqual(Object.values(MetricName).sort());
  });

  it('gives each registered family its type and label set', () => {
    const registered = registeredFamilies().flatMap((r) => r.getMetricsAsArray());
    // Every family but the three whose modules connect at once (above); `aigw_requests_total` in two apps.
    expect(new Set(registered.map((m) => (m as unknown as { name: string }).name)).size).toBe(
      Object.values(MetricName).length - 3,
    );
    for (const metric of registered) {
      const name = (metric as unknown as { name: string }).name;
      expect({ name, type: typeOf(metric), labels: labelsOf(metric).sort() }).toEqual({
        name,
        type: documented.get(name)?.type,
        labels: [...(documented.get(name)?.labels ?? [])].sort(),
      });
    }
  });
});
