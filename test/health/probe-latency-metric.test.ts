import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseCatalog } from '@aigw/core';
import type { ProviderHealthStore } from '@aigw/entities';
import type { CatalogService } from '@aigw/platform';
import { freePort } from '@aigw/testing';
import { Registry } from 'prom-client';
import type { MonitorEnv } from '../../apps/health-monitor/src/config/monitor-env';
import { MonitorMetrics } from '../../apps/health-monitor/src/health/monitor-metrics';
import { Prober } from '../../apps/health-monitor/src/health/prober';

/**
 * The probe latency histogram holds successful probes only: a refused connection fails in ~0 s and, observed, it
 * pulled the histogram's percentiles down to the failures' 0 s (a provider down looked fast). Failures are counted
 * in aigw_health_probes_total{outcome="failed"}.
 */
describe('probe latency histogram: successful probes only', () => {
  let server: Server;
  let prober: Prober;

  beforeAll(async () => {
    server = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ object: 'list', data: [{ id: 'm1', object: 'model' }] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    // Prober uses the catalog only to load plugins before a seed and to retain pools on reload: neither happens here.
    const catalog = { checkBeforeSeed: () => undefined, onReload: () => undefined } as unknown as CatalogService;
    prober = new Prober(
      { PROBE_TIMEOUT_MS: 2000, HEALTH_INTERVAL_S: 300, PROVIDER_ALLOW_LINK_LOCAL: false } as MonitorEnv,
      catalog,
    );
  });
  afterAll(async () => {
    await prober.onApplicationShutdown();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('observes the working provider and not the refused one', async () => {
    const refused = await freePort(); // nothing listens there: the connection is refused
    const { port } = server.address() as AddressInfo;
    const catalog = parseCatalog(
      `providers:
  - id: up
    kind: openai
    baseUrl: http://127.0.0.1:${port}/v1
    models:
      - { name: m1, promptPer1k: 0, completionPer1k: 0, contextWindow: 1000 }
  - id: down
    kind: openai
    baseUrl: http://127.0.0.1:${refused}/v1
    models:
      - { name: m1, promptPer1k: 0, completionPer1k: 0, contextWindow: 1000 }
`,
      {},
    );
    const registry = new Registry();
    // The store is read only by the health gauge's collect, which this test does not scrape.
    const metrics = new MonitorMetrics(registry, {} as ProviderHealthStore, { current: catalog } as CatalogService);
    const outcomes: Record<string, boolean> = {};
    for (const provider of catalog.providers) {
      for (const { check } of await prober.probeProvider(provider, [])) {
        outcomes[provider.id] = check.ok;
        metrics.probed(provider.id, check.route, check.ok, check.latencyMs);
      }
    }
    expect(outcomes).toEqual({ up: true, down: false });

    const probes = await registry.getSingleMetricAsString('aigw_health_probes_total');
    expect(probes).toContain('aigw_health_probes_total{provider="up",route="direct",outcome="ok"} 1');
    expect(probes).toContain('aigw_health_probes_total{provider="down",route="direct",outcome="failed"} 1');
    const latency = await registry.getSingleMetricAsString('aigw_health_probe_latency_seconds');
    expect(latency).toContain('aigw_health_probe_latency_seconds_count{route="direct"} 1');
  });
});
