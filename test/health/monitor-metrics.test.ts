import { parseCatalog } from '@aigw/core';
import {
  CatalogStore,
  createDataSourceOptions,
  ProviderHealthStore,
  runMigrationsLocked,
  SecretBox,
} from '@aigw/entities';
import { waitFor } from '@aigw/testing';
import { Registry } from 'prom-client';
import { DataSource } from 'typeorm';
import { MonitorMetrics } from '../../apps/health-monitor/src/health/monitor-metrics';
import { dropSchema, uniqueSchema } from '../entities/pg';
import { TcpProxy } from '../worker/tcp-proxy';

/**
 * The monitor's health gauge is read from PostgreSQL on each scrape: with PostgreSQL unreachable the scrape still
 * answers, with every other series, rather than failing whole.
 */
describe('monitor metrics with PostgreSQL down', () => {
  const schema = uniqueSchema('monitor_metrics');
  const proxy = new TcpProxy('127.0.0.1', 5432);
  let ds: DataSource;

  beforeAll(async () => {
    await proxy.up();
    ds = await new DataSource(
      createDataSourceOptions({ url: `postgres://postgres@127.0.0.1:${proxy.port}/test`, schema, poolSize: 2 }),
    ).initialize();
    await runMigrationsLocked(ds, () => undefined);
    const yaml = `providers:
  - id: p1
    kind: openai
    baseUrl: http://127.0.0.1:1/v1
    models:
      - { name: m1, promptPer1k: 0, completionPer1k: 0, contextWindow: 1000 }
`;
    await new CatalogStore(ds, SecretBox.fromEnv(undefined, 'test').box).seed(parseCatalog(yaml, {}));
    await ds.query(`UPDATE "${schema}".providers SET health_status = 'degraded' WHERE id = 'p1'`);
  });

  afterAll(async () => {
    await proxy.up().catch(() => undefined);
    await ds?.destroy().catch(() => undefined);
    await proxy.down();
    await dropSchema(schema);
  });

  it('serves every other series, and the gauge again once PostgreSQL is back', async () => {
    const registry = new Registry();
    const metrics = new MonitorMetrics(registry, new ProviderHealthStore(ds));
    metrics.probed('p1', 'direct', true, 12);
    expect(await registry.metrics()).toContain('aigw_provider_health{provider="p1"} 2');

    await proxy.down();
    const during = await registry.metrics();
    expect(during).toContain('aigw_health_probes_total{provider="p1",route="direct",outcome="ok"} 1');
    expect(during).not.toContain('aigw_provider_health{');

    await proxy.up();
    await waitFor(async () => (await registry.metrics()).includes('aigw_provider_health{provider="p1"} 2'), {
      timeoutMs: 10_000,
      message: 'the gauge did not come back',
    });
  });
});
