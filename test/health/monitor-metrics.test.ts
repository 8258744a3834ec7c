import { parseCatalog } from '@aigw/core';
import {
  CatalogStore,
  createDataSourceOptions,
  ProviderHealthStore,
  runMigrationsLocked,
  SecretBox,
} from '@aigw/entities';
import { CatalogService, MigratedDatabase } from '@aigw/platform';
import { waitFor } from '@aigw/testing';
import { Registry } from 'prom-client';
import { DataSource } from 'typeorm';
import { MonitorMetrics } from '../../apps/health-monitor/src/health/monitor-metrics';
import type { MonitorEnv } from '../../apps/health-monitor/src/config/monitor-env';
import { dropSchema, openDataSource, uniqueSchema } from '../entities/pg';
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
    const catalog = new CatalogService({ NODE_ENV: 'test' } as MonitorEnv, new MigratedDatabase(ds));
    catalog.apply(await new CatalogStore(ds, SecretBox.fromEnv(undefined, 'test').box).load());
    const metrics = new MonitorMetrics(registry, new ProviderHealthStore(ds), catalog);
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

/**
 * Only what the monitor probes has a health series: a provider disabled (or a gateway no enabled provider routes
 * through any more) is never probed again, and its last status, `failing` say, would otherwise be reported on (an
 * alert on it firing for three of its intervals after an admin disabled it, then a 0 for good).
 */
describe('monitor health gauge: disabled providers and unused gateways', () => {
  const schema = uniqueSchema('monitor_gauge');
  let ds: DataSource;
  let catalog: CatalogService;
  let store: CatalogStore;

  beforeAll(async () => {
    ds = await openDataSource(schema, 2);
    await runMigrationsLocked(ds, () => undefined);
    store = new CatalogStore(ds, SecretBox.fromEnv(undefined, 'test').box);
    const yaml = `gateways:
  - { id: used, baseUrl: http://127.0.0.1:1/v1 }
  - { id: unused, baseUrl: http://127.0.0.1:1/v1 }
providers:
  - id: on
    kind: openai
    baseUrl: http://127.0.0.1:1/v1
    routing: gateway
    gateway: used
    models:
      - { name: m1, promptPer1k: 0, completionPer1k: 0, contextWindow: 1000 }
  - id: off
    kind: openai
    enabled: false
    baseUrl: http://127.0.0.1:1/v1
    routing: auto
    gateway: unused
    models:
      - { name: m1, promptPer1k: 0, completionPer1k: 0, contextWindow: 1000 }
`;
    await store.seed(parseCatalog(yaml, {}));
    // Both were failing when last probed (an admin then disabled `off`); the status has not lapsed yet.
    const until = new Date(Date.now() + 3_600_000);
    for (const table of ['providers', 'gateways']) {
      await ds.query(`UPDATE "${schema}".${table} SET health_status = 'failing', health_valid_until = $1`, [until]);
    }
    catalog = new CatalogService({ NODE_ENV: 'test' } as MonitorEnv, new MigratedDatabase(ds));
    catalog.apply(await store.load());
  });

  afterAll(async () => {
    await ds?.destroy();
    await dropSchema(schema);
  });

  it('reports enabled providers and the gateways they use, and drops one once it is disabled', async () => {
    const registry = new Registry();
    new MonitorMetrics(registry, new ProviderHealthStore(ds), catalog);
    const series = async () =>
      (await registry.metrics()).split('\n').filter((l) => l.startsWith('aigw_provider_health{'));
    expect(await series()).toEqual([
      'aigw_provider_health{provider="on"} 3',
      'aigw_provider_health{provider="gateway:used"} 3',
    ]);

    await ds.query(`UPDATE "${schema}".providers SET enabled = false WHERE id = 'on'`);
    catalog.apply(await store.load());
    expect(await series()).toEqual([]);
  });
});
