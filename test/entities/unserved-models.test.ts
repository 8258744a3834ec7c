import { performance } from 'node:perf_hooks';
import { parseCatalog, type Catalog } from '@aigw/core';
import {
  CatalogStore,
  ProviderHealthStore,
  runMigrationsLocked,
  SecretBox,
  type HealthRules,
  type RouteCheck,
} from '@aigw/entities';
import { CatalogService, MigratedDatabase, type BaseEnv } from '@aigw/platform';
import type { DataSource } from 'typeorm';
import { dropSchema, openDataSource, uniqueSchema } from './pg';

const catalogAt = (baseUrl: string): Catalog =>
  parseCatalog(
    `
providers:
  - id: p1
    kind: openai
    baseUrl: ${baseUrl}
    models:
      - { name: m1, promptPer1k: 0, completionPer1k: 0, contextWindow: 1000 }
      - { name: m2, upstreamName: vendor/m2, promptPer1k: 0, completionPer1k: 0, contextWindow: 1000 }
  - id: p2
    kind: openai
    baseUrl: http://127.0.0.1:2/v1
    models:
      - { name: m2, promptPer1k: 0, completionPer1k: 0, contextWindow: 1000 }
`,
    {},
  );

const RULES: HealthRules = { failureThreshold: 3, slowMs: 1000, window: 5 };
const up: RouteCheck = { route: 'direct', ok: true, latencyMs: 5, status: 200, errorClass: null, message: null };
const down: RouteCheck = { ...up, ok: false, status: null, errorClass: 'network', message: 'connection refused' };

/**
 * `providers.unserved_models`: the monitor writes the models a provider's list lacks with its status; the catalog reads
 * them back (no query of their own) as deployments routing tries last. A probe that finds them listed clears them, one
 * that cannot tell keeps them, and a settings change since the probe that found them (`updated_at`) drops them.
 */
describe('unserved models (real PostgreSQL)', () => {
  const schema = uniqueSchema('unserved');
  let ds: DataSource;
  let store: ProviderHealthStore;
  let catalogStore: CatalogStore;
  let catalog: CatalogService;
  const p1 = { kind: 'provider' as const, id: 'p1' };
  const probe = (checks: RouteCheck[], unserved?: string[]) =>
    store.recordTimedProbe(
      p1,
      checks,
      { startedAt: performance.now(), holdsForMs: 60_000 },
      RULES,
      unserved === undefined ? {} : { unserved },
    );
  const stored = async (): Promise<unknown> =>
    (await ds.query<{ unserved_models: unknown }[]>(`SELECT unserved_models FROM providers WHERE id = 'p1'`))[0]
      .unserved_models;
  const unservedNow = async (): Promise<string[]> => {
    await catalog.reload();
    return [...catalog.unservedDeployments()];
  };

  beforeAll(async () => {
    ds = await openDataSource(schema);
    await runMigrationsLocked(ds, () => undefined);
    const { box } = SecretBox.fromEnv(undefined, 'test');
    catalogStore = new CatalogStore(ds, box);
    await catalogStore.seed(catalogAt('http://127.0.0.1:1/v1'));
    store = new ProviderHealthStore(ds);
    catalog = new CatalogService({ NODE_ENV: 'test' } as BaseEnv, new MigratedDatabase(ds));
  });

  afterAll(async () => {
    await ds.destroy();
    await dropSchema(schema);
  });

  it('records the verdict with the status; the catalog maps it to deployments by upstream name', async () => {
    await probe([up], ['vendor/m2']);
    expect(await stored()).toEqual(['vendor/m2']);
    expect((await catalogStore.loadWithHealth()).unserved).toEqual(new Map([['p1', ['vendor/m2']]]));
    // p1's m2 (upstream vendor/m2), not p2's m2 nor p1's m1.
    expect(await unservedNow()).toEqual(['p1/m2']);
  });

  it('keeps it through a probe that cannot tell, clears it when a probe finds the model listed', async () => {
    await probe([up], ['vendor/m2']);
    await probe([down]);
    expect(await stored()).toEqual(['vendor/m2']);
    expect(await unservedNow()).toEqual(['p1/m2']);
    await probe([up], []);
    expect(await stored()).toBeNull();
    expect(await unservedNow()).toEqual([]);
  });

  it('a probe older than the one recorded last leaves the mark alone', async () => {
    const began = performance.now() - 5_000;
    await probe([up], ['vendor/m2']);
    await store.recordTimedProbe(p1, [up], { startedAt: began, holdsForMs: 60_000 }, RULES, { unserved: [] });
    expect(await stored()).toEqual(['vendor/m2']);
  });

  it('is not taken once the provider settings changed since the probe, nor kept by a probe that cannot tell', async () => {
    await probe([up], ['vendor/m2']);
    expect(await unservedNow()).toEqual(['p1/m2']);
    // Another server: its list is another list.
    await catalogStore.seed(catalogAt('http://127.0.0.2:1/v1'));
    expect(await unservedNow()).toEqual([]);
    // A failed probe after the change does not bring the old server's verdict back.
    await probe([down]);
    expect(await stored()).toBeNull();
    expect(await unservedNow()).toEqual([]);
    // The new server's own verdict counts.
    await probe([up], ['m1']);
    expect(await unservedNow()).toEqual(['p1/m1']);
  });

  it('is not taken once the status it came with no longer holds (no monitor confirms it)', async () => {
    await probe([up], ['m1']);
    expect(await unservedNow()).toEqual(['p1/m1']);
    await ds.query(`UPDATE providers SET health_valid_until = now() - interval '1 second' WHERE id = 'p1'`);
    expect(await unservedNow()).toEqual([]);
  });
});
