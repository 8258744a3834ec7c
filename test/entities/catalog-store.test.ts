import { randomBytes } from 'node:crypto';
import { parseCatalog, type Catalog } from '@aigw/core';
import { CatalogStore, runMigrationsLocked, SecretBox, type SeedSummary } from '@aigw/entities';
import type { DataSource } from 'typeorm';
import { dropSchema, openDataSource, uniqueSchema } from './pg';

const OPENAI_SECRET = 'sk-openai-very-secret-value';
const GATEWAY_SECRET = 'sk-litellm-master-secret';

const YAML = `
gateways:
  - id: litellm
    baseUrl: http://litellm:4000/v1
    apiKey: \${GW_KEY}
providers:
  - id: openai
    displayName: OpenAI
    kind: openai
    baseUrl: https://api.openai.com/v1
    apiKey: \${OPENAI_KEY}
    maxConnections: 64
    models:
      - { name: gpt-4o-mini, displayName: GPT-4o mini, description: Small and fast., recommended: true, promptPer1k: 0.00015, completionPer1k: 0.0006, cachedPromptPer1k: 0.000075, contextWindow: 128000, capabilities: [chat, streaming, tools], quality: 0.7 }
      - { name: gpt-4o, promptPer1k: 0.0025, completionPer1k: 0.01, contextWindow: 128000, cache: { ttlS: 120, enabled: false } }
  - id: anthropic
    kind: anthropic
    baseUrl: https://api.anthropic.com
    routing: auto
    gateway: litellm
    probe: completion
    models:
      - { name: claude, upstreamName: claude-3-5-haiku-latest, promptPer1k: 0.0008, completionPer1k: 0.004, contextWindow: 200000, quality: 0.123456789 }
`;
const ENV = { GW_KEY: GATEWAY_SECRET, OPENAI_KEY: OPENAI_SECRET };

/**
 * The catalog as load() returns it: providers by id, models by name, quality as a PostgreSQL
 * real (about 7 significant digits; 0.123456789 is there to prove re-seeding still sees no change).
 */
function asLoaded(catalog: Catalog): Catalog {
  const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
  return {
    gateways: [...catalog.gateways].sort((a, b) => a.id.localeCompare(b.id)),
    providers: [...catalog.providers]
      .sort((a, b) => a.id.localeCompare(b.id))
      .map((p) => ({
        ...p,
        models: p.models
          .map((m) => (m.quality === undefined ? m : { ...m, quality: Number(m.quality.toPrecision(8)) }))
          .sort(byName),
      })),
  };
}

describe('CatalogStore', () => {
  const schema = uniqueSchema('catalog');
  const box = SecretBox.fromKey(randomBytes(32).toString('base64'));
  let ds: DataSource;
  let store: CatalogStore;

  beforeAll(async () => {
    ds = await openDataSource(schema);
    await runMigrationsLocked(ds);
    store = new CatalogStore(ds, box);
  });

  afterAll(async () => {
    await ds.destroy();
    await dropSchema(schema);
  });

  async function snapshot(): Promise<unknown[]> {
    return ds.query(`
      SELECT 'p' AS t, id, updated_at, encrypted_secret, enabled FROM providers
      UNION ALL SELECT 'g', id, updated_at, encrypted_secret, NULL FROM gateways
      UNION ALL SELECT 'm', id::text, updated_at, NULL, enabled FROM models
      ORDER BY 1, 2`);
  }

  it('seeds a fresh database, encrypting secrets at rest, and loads it back decrypted', async () => {
    const catalog = parseCatalog(YAML, ENV);
    const summary = await store.seed(catalog);
    expect(summary.providers.created).toEqual(['openai', 'anthropic']);
    expect(summary.gateways.created).toEqual(['litellm']);
    expect(summary.models.created).toBe(3);

    const raw = await ds.query<{ id: string; encrypted_secret: string | null; source: string }[]>(
      'SELECT id, encrypted_secret, source FROM providers ORDER BY id',
    );
    expect(raw.map((r) => [r.id, r.source])).toEqual([
      ['anthropic', 'file'],
      ['openai', 'file'],
    ]);
    expect(raw[0].encrypted_secret).toBeNull();
    expect(raw[1].encrypted_secret).toMatch(/^v1:/);
    const tables = ['providers', 'gateways', 'models', 'audit_log'];
    const everything = JSON.stringify(await Promise.all(tables.map((t) => ds.query(`SELECT * FROM ${t}`))));
    expect(everything).not.toContain(OPENAI_SECRET);
    expect(everything).not.toContain(GATEWAY_SECRET);
    const gw = await ds.query<{ encrypted_secret: string }[]>('SELECT encrypted_secret FROM gateways');
    expect(gw[0].encrypted_secret).toMatch(/^v1:/);
    expect(gw[0].encrypted_secret).not.toContain(GATEWAY_SECRET);

    const loaded = await store.load();
    expect(loaded).toEqual(asLoaded(catalog));
    expect(typeof loaded.providers[1].models[0].promptPer1k).toBe('number');
    expect(loaded.providers[1].displayName).toBe('OpenAI');
    expect(loaded.providers[1].models.find((m) => m.name === 'gpt-4o-mini')).toMatchObject({
      displayName: 'GPT-4o mini',
      description: 'Small and fast.',
      recommended: true,
    });
  });

  it('is idempotent: a second seed changes no row and is not audited; the first is, without secrets', async () => {
    const before = await snapshot();
    const summary = await store.seed(parseCatalog(YAML, ENV));
    expect(summary).toEqual<SeedSummary>({
      gateways: { created: [], updated: [], unchanged: 1, ignored: [] },
      providers: { created: [], updated: [], unchanged: 2, disabled: [], skipped: [], ignored: [] },
      models: { created: 0, updated: 0, unchanged: 3, disabled: 0 },
    });
    expect(await snapshot()).toEqual(before);

    const audit = await ds.query<{ actor: string; action: string; detail: unknown }[]>(
      'SELECT actor, action, detail FROM audit_log ORDER BY id',
    );
    // Every process seeds at every boot: a seed that changed nothing leaves no row.
    expect(audit.map((a) => [a.actor, a.action])).toEqual([['catalog-file', 'catalog.seed']]);
    expect(audit[0].detail).toMatchObject({ providers: { created: ['openai', 'anthropic'] } });
    expect(JSON.stringify(audit)).not.toMatch(/very-secret|master-secret|v1:/);
  });

  it('updates what changed, naming the fields but not the values', async () => {
    const changed = YAML.replace('maxConnections: 64', 'maxConnections: 32').replace('0.0025', '0.002');
    const summary = await store.seed(parseCatalog(changed, { ...ENV, OPENAI_KEY: 'sk-rotated-secret' }), 'admin:cli');
    expect(summary.providers.updated).toEqual([{ id: 'openai', fields: ['maxConnections', 'encryptedSecret'] }]);
    expect(summary.models.updated).toBe(1);
    const loaded = await store.load();
    const openai = loaded.providers.find((p) => p.id === 'openai');
    expect(openai?.apiKey).toBe('sk-rotated-secret');
    expect(openai?.models.find((m) => m.name === 'gpt-4o')?.promptPer1k).toBe(0.002);
    const [last] = await ds.query<{ actor: string; detail: unknown }[]>(
      'SELECT actor, detail FROM audit_log ORDER BY id DESC LIMIT 1',
    );
    expect(last.actor).toBe('admin:cli');
    expect(JSON.stringify(last.detail)).not.toContain('rotated');
  });

  it('disables models that left the file, and providers that left with theirs, deleting nothing', async () => {
    const withoutGpt4o = YAML.replace(/\n {6}- \{ name: gpt-4o, [^\n]*/, '');
    let summary = await store.seed(parseCatalog(withoutGpt4o, ENV));
    expect(summary.models.disabled).toBe(1);
    let loaded = await store.load();
    expect(loaded.providers.find((p) => p.id === 'openai')?.models.map((m) => [m.name, m.enabled])).toEqual([
      ['gpt-4o', false],
      ['gpt-4o-mini', true],
    ]);

    const withoutAnthropic = withoutGpt4o.slice(0, withoutGpt4o.indexOf('  - id: anthropic'));
    summary = await store.seed(parseCatalog(withoutAnthropic, ENV));
    expect(summary.providers.disabled).toEqual(['anthropic']);
    expect(summary.models.disabled).toBe(1);
    loaded = await store.load();
    const anthropic = loaded.providers.find((p) => p.id === 'anthropic');
    expect(anthropic?.enabled).toBe(false);
    expect(anthropic?.models.map((m) => m.enabled)).toEqual([false]);

    // Back in the file: enabled again.
    summary = await store.seed(parseCatalog(YAML, ENV));
    expect(summary.providers.updated.map((u) => u.id)).toEqual(expect.arrayContaining(['anthropic']));
    loaded = await store.load();
    expect(loaded.providers.every((p) => p.enabled && p.models.every((m) => m.enabled))).toBe(true);
  });

  it('leaves providers edited through the admin API alone', async () => {
    await ds.query(`UPDATE providers SET source = 'admin', timeout_ms = 5000 WHERE id = 'anthropic'`);
    const summary = await store.seed(parseCatalog(YAML.replace('0.0008', '0.0009'), ENV));
    expect(summary.providers.skipped).toEqual(['anthropic']);
    const anthropic = (await store.load()).providers.find((p) => p.id === 'anthropic');
    expect(anthropic?.timeoutMs).toBe(5000);
    expect(anthropic?.models[0].promptPer1k).toBe(0.0008);
    // Nor does removing it from the file disable it.
    await store.seed(parseCatalog(YAML.slice(0, YAML.indexOf('  - id: anthropic')), ENV));
    expect((await store.load()).providers.find((p) => p.id === 'anthropic')?.enabled).toBe(true);
  });

  it('says which file changes it did not apply to what was edited through the admin API, naming fields, no secret', async () => {
    // As stored: nothing to say, though the providers and the gateway are the admin's now.
    await ds.query(`UPDATE providers SET source = 'admin'`);
    await ds.query(`UPDATE gateways SET source = 'admin'`);
    const unchangedAnthropic = await store.seed(parseCatalog(YAML, ENV));
    expect(unchangedAnthropic.providers.ignored).toEqual([
      // The previous test edited its timeout.
      { id: 'anthropic', fields: ['timeoutMs'] },
    ]);
    // The operator rotates the keys in the environment and reprices a model in the file: none of it is applied
    // (the admin's edits win), and the summary says so, for the boot to warn.
    const rotated = { GW_KEY: 'sk-litellm-rotated', OPENAI_KEY: 'sk-openai-rotated' };
    const summary = await store.seed(parseCatalog(YAML.replace('0.0025', '0.003'), rotated));
    expect(summary.gateways.ignored).toEqual([{ id: 'litellm', fields: ['apiKey'] }]);
    expect(summary.providers.ignored).toEqual([
      { id: 'openai', fields: ['apiKey', 'models'] },
      { id: 'anthropic', fields: ['timeoutMs'] },
    ]);
    expect(JSON.stringify(summary)).not.toMatch(/sk-/);
    const openai = (await store.load()).providers.find((p) => p.id === 'openai');
    expect(openai?.apiKey).toBe(OPENAI_SECRET);
    await ds.query(`UPDATE providers SET source = 'file'`);
    await ds.query(`UPDATE gateways SET source = 'file'`);
  });

  it('refuses to load secrets sealed under another key, naming the provider but not the secret', async () => {
    const other = new CatalogStore(ds, SecretBox.fromKey(randomBytes(32).toString('hex')));
    await expect(other.load()).rejects.toThrow("cannot read the API key of provider 'openai'");
  });

  it('lets concurrent seeds of a fresh schema queue instead of colliding', async () => {
    const fresh = uniqueSchema('catalog_race');
    const sources = await Promise.all([1, 2, 3].map(() => openDataSource(fresh)));
    try {
      await runMigrationsLocked(sources[0]);
      const catalog = parseCatalog(YAML, ENV);
      const summaries = await Promise.all(sources.map((s) => new CatalogStore(s, box).seed(catalog)));
      expect(summaries.map((s) => s.providers.created.length).sort()).toEqual([0, 0, 2]);
      expect(await new CatalogStore(sources[0], box).load()).toEqual(asLoaded(catalog));
    } finally {
      await Promise.all(sources.map((s) => s.destroy()));
      await dropSchema(fresh);
    }
  });
});
