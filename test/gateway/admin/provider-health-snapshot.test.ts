import { parseCatalog, type ProviderSpec } from '@aigw/core';
import { CatalogStore, ProviderHealthStore, runMigrationsLocked, SecretBox, type RouteCheck } from '@aigw/entities';
import { MigratedDatabase, type CatalogService } from '@aigw/platform';
import type { DataSource } from 'typeorm';
import { ProviderHealthAdminService } from '../../../apps/api-gateway/src/admin/provider-health-admin.service';
import { dropSchema, openDataSource, uniqueSchema } from '../../entities/pg';
import { isBegin, watch } from '../../entities/query-watch';

const YAML = `
providers:
  - id: p1
    kind: openai
    baseUrl: http://127.0.0.1:1/v1
    models:
      - { name: m1, promptPer1k: 0, completionPer1k: 0, contextWindow: 1000 }
`;
const RULES = { failureThreshold: 3, slowMs: 1000, window: 5 };
const up: RouteCheck = { route: 'direct', ok: true, latencyMs: 10, status: 200, errorClass: null, message: null };
const isHealthRead = (sql: string): boolean => /^\s*SELECT\b/i.test(sql) && sql.includes('provider_health_checks');

/**
 * The admin health history reads its checks and its uptime from one snapshot (real PostgreSQL, migrated): a probe
 * recorded between the two reads is in both or neither.
 */
describe('provider health history from one snapshot', () => {
  const schema = uniqueSchema('health_snapshot');
  let ds: DataSource;

  beforeAll(async () => {
    ds = await openDataSource(schema);
    await runMigrationsLocked(ds, () => undefined);
    const { box } = SecretBox.fromEnv(undefined, 'test');
    await new CatalogStore(ds, box).seed(parseCatalog(YAML, {}));
  });

  afterAll(async () => {
    await ds.destroy();
    await dropSchema(schema);
  });

  afterEach(() => jest.restoreAllMocks());

  it('a probe recorded between the checks and the uptime is counted in both or neither', async () => {
    const store = new ProviderHealthStore(ds);
    const now = Date.now();
    for (let i = 3; i > 0; i--) {
      await store.recordProbe({ kind: 'provider', id: 'p1' }, [up], new Date(now - i * 60_000), RULES);
    }
    const catalog = { provider: (id: string) => (id === 'p1' ? ({ id } as ProviderSpec) : undefined) };
    const service = new ProviderHealthAdminService(catalog as unknown as CatalogService, new MigratedDatabase(ds));
    const q = { from: new Date(now - 3_600_000).toISOString(), to: new Date(now + 60_000).toISOString() };
    const baseline = await service.history('p1', q);
    expect(baseline).toMatchObject({ probes: 3, uptime: 1 });
    expect(baseline.checks).toHaveLength(3);

    const w = watch(ds);
    w.between(isHealthRead, () =>
      store.recordProbe({ kind: 'provider', id: 'p1' }, [up], new Date(now - 30_000), RULES),
    );
    const view = await service.history('p1', q);
    await w.settled();
    // One probe per check here: the list and the count agree, and are the snapshot's.
    expect(view.checks).toHaveLength(view.probes);
    expect(view).toEqual(baseline);
    // Both reads in one read-only transaction; the other transaction is the probe's own.
    expect(w.queries.filter(isHealthRead)).toHaveLength(2);
    expect(w.queries.filter(isBegin)).toHaveLength(2);
    expect(w.queries.filter((sql) => sql.includes('REPEATABLE READ, READ ONLY'))).toHaveLength(1);

    const after = await service.history('p1', q);
    expect(after.probes).toBe(4);
    expect(after.checks).toHaveLength(4);
  });
});
