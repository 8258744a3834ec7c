import { randomBytes } from 'node:crypto';
import { parseCatalog, type Catalog, type ProviderSpec } from '@aigw/core';
import {
  CatalogAdminStore,
  CatalogStore,
  KEEP_SECRET,
  runMigrationsLocked,
  SecretBox,
  type SecretUpdate,
  type SeedSummary,
} from '@aigw/entities';
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
      SELECT 'p' AS t, id, updated_at, encrypted_secret, enabled, xmin::text AS version FROM providers
      UNION ALL SELECT 'g', id, updated_at, encrypted_secret, NULL, xmin::text FROM gateways
      UNION ALL SELECT 'm', id::text, updated_at, NULL, enabled, xmin::text FROM models
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
    // As stored: nothing to say, though the providers and the gateway are the admin's now. Nor about the timeout the
    // previous test edited: the file did not change it since, so it is the admin's setting, not news.
    await ds.query(`UPDATE providers SET source = 'admin'`);
    await ds.query(`UPDATE gateways SET source = 'admin'`);
    const unchangedAnthropic = await store.seed(parseCatalog(YAML, ENV));
    expect(unchangedAnthropic.providers.ignored).toEqual([]);
    // The operator rotates the keys in the environment and reprices a model in the file: none of it is applied
    // (the admin's edits win), and the summary says so, for the boot to warn; at every boot while it is so.
    const rotated = { GW_KEY: 'sk-litellm-rotated', OPENAI_KEY: 'sk-openai-rotated' };
    for (let boot = 0; boot < 2; boot++) {
      const summary = await store.seed(parseCatalog(YAML.replace('0.0025', '0.003'), rotated));
      expect(summary.gateways.ignored).toEqual([{ id: 'litellm', fields: ['apiKey'] }]);
      expect(summary.providers.ignored).toEqual([{ id: 'openai', fields: ['apiKey', 'models'] }]);
      expect(JSON.stringify(summary)).not.toMatch(/sk-/);
    }
    const recorded = await ds.query<{ seeded: unknown }[]>(
      'SELECT seeded FROM providers UNION ALL SELECT seeded FROM gateways',
    );
    expect(JSON.stringify(recorded)).not.toMatch(/sk-/);
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

/**
 * The boot seed leaves a row an admin edited alone and warns about what the file says otherwise (SeedSummary
 * `ignored`): only about what the file changed since the row last agreed with it, not about the admin's own edits,
 * which would otherwise be warned about at every boot of every replica.
 */
describe('CatalogStore seed after admin edits', () => {
  const schema = uniqueSchema('catalog_admin');
  const box = SecretBox.fromKey(randomBytes(32).toString('base64'));
  let ds: DataSource;
  let store: CatalogStore;
  let admin: CatalogAdminStore;

  beforeAll(async () => {
    ds = await openDataSource(schema);
    await runMigrationsLocked(ds);
    store = new CatalogStore(ds, box);
    admin = new CatalogAdminStore(ds, box);
  });

  afterAll(async () => {
    await ds.destroy();
    await dropSchema(schema);
  });

  /** A change as the admin API writes one (ProviderCommandsService): the stored provider, edited, put back. */
  function editProvider(id: string, edit: (p: ProviderSpec) => ProviderSpec, secret: SecretUpdate = KEEP_SECRET) {
    return admin.transaction(async (tx) => {
      const current = (await tx.state()).catalog.providers.find((p) => p.id === id);
      await tx.putProvider(edit(current as ProviderSpec), secret);
    });
  }

  const ignored = async (yaml = YAML, env = ENV): Promise<SeedSummary['providers']['ignored']> =>
    (await store.seed(parseCatalog(yaml, env))).providers.ignored;

  it("does not report the admin's own edits, boot after boot: a provider disabled, a timeout, a model repriced", async () => {
    await store.seed(parseCatalog(YAML, ENV));
    await editProvider('openai', (p) => ({ ...p, enabled: false }));
    await editProvider('anthropic', (p) => ({
      ...p,
      timeoutMs: 5000,
      models: p.models.map((m) => ({ ...m, promptPer1k: 0.001 })),
    }));
    const before = await ds.query<unknown[]>('SELECT id, updated_at, seeded FROM providers ORDER BY id');
    for (let boot = 0; boot < 3; boot++) {
      const summary = await store.seed(parseCatalog(YAML, ENV));
      expect(summary.providers.skipped).toEqual(['openai', 'anthropic']);
      expect(summary.providers.ignored).toEqual([]);
    }
    // A boot with nothing new writes nothing.
    expect(await ds.query<unknown[]>('SELECT id, updated_at, seeded FROM providers ORDER BY id')).toEqual(before);
    const loaded = await store.load();
    expect(loaded.providers.find((p) => p.id === 'openai')?.enabled).toBe(false);
    expect(loaded.providers.find((p) => p.id === 'anthropic')?.timeoutMs).toBe(5000);
  });

  it('reports what the file changed since, at every boot until the row agrees, saying when the provider is disabled', async () => {
    const changed = YAML.replace('maxConnections: 64', 'maxConnections: 32').replace('0.0008', '0.0009');
    const rotated = { ...ENV, OPENAI_KEY: 'sk-openai-rotated' };
    for (let boot = 0; boot < 2; boot++) {
      expect(await ignored(changed, rotated)).toEqual([
        { id: 'openai', fields: ['maxConnections', 'apiKey'], disabled: true },
        // Its timeout is still the admin's, not reported; its model's price is one the file changed.
        { id: 'anthropic', fields: ['models'] },
      ]);
    }
    // A change of the file back to what is stored, or to what the admin set, says nothing.
    expect(await ignored(YAML.replace('0.0008', '0.001'), ENV)).toEqual([]);
    // The admin takes the rotated key and the new limit: the row agrees, nothing more to say about them.
    await editProvider('openai', (p) => ({ ...p, maxConnections: 32 }), { set: 'sk-openai-rotated' });
    expect(await ignored(changed, rotated)).toEqual([{ id: 'anthropic', fields: ['models'] }]);
    // The admin takes the new price too: the boot that finds the row agreeing records it ...
    await editProvider('anthropic', (p) => ({ ...p, models: p.models.map((m) => ({ ...m, promptPer1k: 0.0009 })) }));
    expect(await ignored(changed, rotated)).toEqual([]);
    // ... so later edits by the admin are the admin's again, not file changes.
    await editProvider('openai', (p) => ({ ...p, maxConnections: 16 }), { set: 'sk-openai-admin' });
    await editProvider('anthropic', (p) => ({ ...p, models: p.models.map((m) => ({ ...m, promptPer1k: 0.002 })) }));
    expect(await ignored(changed, rotated)).toEqual([]);
  });

  it('reports a gateway the same way', async () => {
    const gatewayIgnored = async (env: Record<string, string>) =>
      (await store.seed(parseCatalog(YAML, env))).gateways.ignored;
    await admin.transaction(async (tx) => {
      const gw = (await tx.state()).catalog.gateways[0];
      await tx.putGateway({ ...gw, timeoutMs: 1000 }, KEEP_SECRET);
    });
    expect(await gatewayIgnored(ENV)).toEqual([]);
    expect(await gatewayIgnored({ ...ENV, GW_KEY: 'sk-litellm-rotated' })).toEqual([
      { id: 'litellm', fields: ['apiKey'] },
    ]);
    expect(await gatewayIgnored(ENV)).toEqual([]);
  });

  it('reports every difference once for a row edited before the seed recorded anything (an upgrade), then records it', async () => {
    await ds.query('UPDATE providers SET seeded = NULL');
    await ds.query('UPDATE gateways SET seeded = NULL');
    const updatedAt = () => ds.query<unknown[]>('SELECT id, updated_at FROM providers ORDER BY id');
    const before = await updatedAt();
    const first = await store.seed(parseCatalog(YAML, ENV));
    expect(first.providers.ignored).toEqual([
      { id: 'openai', fields: ['enabled', 'maxConnections', 'apiKey'], disabled: true },
      { id: 'anthropic', fields: ['timeoutMs', 'models'] },
    ]);
    expect(first.gateways.ignored).toEqual([{ id: 'litellm', fields: ['timeoutMs'] }]);
    const second = await store.seed(parseCatalog(YAML, ENV));
    expect(second.providers.ignored).toEqual([]);
    expect(second.gateways.ignored).toEqual([]);
    // Recording is not a change of the settings: `updated_at` stays.
    expect(await ds.query('SELECT count(*)::int AS n FROM providers WHERE seeded IS NULL')).toEqual([{ n: 0 }]);
    expect(await updatedAt()).toEqual(before);
  });

  it('reports a key recorded under a SECRETS_KEY since retired once if it differs, then records the current one', async () => {
    const retired = SecretBox.fromKey(randomBytes(32).toString('base64'));
    const recordUnderRetiredKey = () =>
      ds.query(
        `UPDATE providers SET seeded = jsonb_set(seeded, '{encryptedSecret}', to_jsonb($1::text)) WHERE id = 'openai'`,
        [retired.encrypt(OPENAI_SECRET)],
      );
    // The stored key is the admin's (sk-openai-admin), the file's differs: said once, since the record cannot tell.
    await recordUnderRetiredKey();
    expect(await ignored()).toEqual([{ id: 'openai', fields: ['apiKey'], disabled: true }]);
    expect(await ignored()).toEqual([]);
    // The same key: nothing to say, and the record is sealed under the current SECRETS_KEY again.
    await editProvider('openai', (p) => p, { set: OPENAI_SECRET });
    await recordUnderRetiredKey();
    expect(await ignored()).toEqual([]);
    await editProvider('openai', (p) => p, { set: 'sk-openai-admin' });
    expect(await ignored()).toEqual([]);
  });
});
