import { parseCatalog } from '@aigw/core';
import { CatalogService } from '@aigw/platform';
import { waitFor } from '@aigw/testing';
import { DataSource } from 'typeorm';
import { GatewayHarness } from '../support';
import { audit, call, errorOf } from './admin-support';

const EXPORT = '/api/v1/ai/admin/config/export';
const IMPORT = '/api/v1/ai/admin/config/import';

interface ImportBody {
  dryRun: boolean;
  applied: boolean;
  changes: Record<
    'gateways' | 'providers' | 'models',
    {
      added: string[];
      changed: { id: string; fields: Record<string, { from: unknown; to: unknown }> }[];
      removed: string[];
    }
  >;
}

/** Config export and import: the catalog file's format, secrets left out, dry run, all-or-nothing. */
describe('admin API: config export and import', () => {
  const h = new GatewayHarness({ CATALOG_RELOAD_S: '1' });

  beforeAll(async () => {
    process.env.H11B_IMPORT_API_KEY = 'sk-import-from-env';
    await h.start();
    // A gateway and a provider keyed by an environment reference, next to the file's literal keys.
    await call(h, 'POST', '/api/v1/ai/admin/gateways', {
      id: 'proxy',
      baseUrl: `${h.sim.url}/v1`,
      apiKey: 'sk-gw-lit',
    });
    await call(h, 'POST', '/api/v1/ai/admin/providers', {
      id: 'via-env',
      kind: 'openai',
      baseUrl: `${h.sim.url}/v1`,
      apiKey: '${H11B_IMPORT_API_KEY}',
      routing: 'auto',
      gatewayId: 'proxy',
      models: [{ name: 'e1', promptPer1k: 0.00015, completionPer1k: 0.0000006, contextWindow: 4096, quality: 0.85 }],
    });
  }, 60_000);
  afterAll(() => h.stop(), 30_000);

  async function exported(format: 'yaml' | 'json'): Promise<{ text: string; type: string | null }> {
    const res = await fetch(`${h.url}${EXPORT}?format=${format}`, { headers: h.headers() });
    expect(res.status).toBe(200);
    return { text: await res.text(), type: res.headers.get('content-type') };
  }

  function importText(text: string, type: string, query = ''): Promise<Response> {
    return fetch(`${h.url}${IMPORT}${query}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.adminKey}`, 'content-type': type },
      body: text,
    });
  }

  const providerIds = (): string[] => h.app.get(CatalogService).current.providers.map((p) => p.id);

  it('exports YAML in the catalog file format, sorted, secrets only as ${VAR} references', async () => {
    const { text, type } = await exported('yaml');
    expect(type).toContain('application/yaml');
    expect(text).not.toContain('sk-sim-secret-gateway-test');
    expect(text).not.toContain('sk-gw-lit');
    expect(text).not.toContain('sk-import-from-env');
    expect(text).toContain('apiKey: ${H11B_IMPORT_API_KEY}');
    // A valid PROVIDERS_FILE.
    const parsed = parseCatalog(text, process.env);
    expect(parsed.providers.map((p) => p.id)).toEqual(['sim', 'sim-b', 'via-env']);
    expect(parsed.gateways.map((g) => g.id)).toEqual(['proxy']);
    expect(text.indexOf('gateways:')).toBeLessThan(text.indexOf('providers:'));
  });

  it('415 for a media type it does not take names both it does: JSON and YAML', async () => {
    const res = await importText('providers: []', 'text/plain');
    expect(res.status).toBe(415);
    const { error } = (await res.json()) as { error: { message: string; code: string } };
    expect(error.code).toBe('unsupported_media_type');
    expect(error.message).toContain('application/json');
    expect(error.message).toContain('application/yaml');
    // Elsewhere JSON alone is taken, and said.
    const other = await fetch(`${h.url}/api/v1/ai/admin/providers`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.adminKey}`, 'content-type': 'text/plain' },
      body: 'x',
    });
    expect(other.status).toBe(415);
    expect(((await other.json()) as { error: { message: string } }).error.message).not.toContain('yaml');
  });

  it('400 for an unknown format; 401 and 403', async () => {
    const res = await call(h, 'GET', `${EXPORT}?format=xml`);
    expect([res.status, errorOf(res).param]).toEqual([400, 'format']);
    expect((await fetch(`${h.url}${EXPORT}`)).status).toBe(401);
    const user = await h.userKey('config-reader');
    expect((await call(h, 'GET', EXPORT, undefined, user)).status).toBe(403);
    expect((await call(h, 'POST', IMPORT, {}, user)).status).toBe(403);
  });

  it('export → import → export is byte-identical, in YAML and in JSON; an identical import changes nothing', async () => {
    for (const [format, type] of [
      ['yaml', 'application/yaml'],
      ['json', 'application/json'],
    ] as const) {
      const first = await exported(format);
      const res = await importText(first.text, type);
      expect(res.status).toBe(200);
      const body = (await res.json()) as ImportBody;
      expect(body.applied).toBe(true);
      for (const entity of ['gateways', 'providers', 'models'] as const) {
        expect(body.changes[entity]).toEqual({ added: [], changed: [], removed: [] });
      }
      expect((await exported(format)).text).toBe(first.text);
    }
    // Literal keys the export left out are kept.
    const sim = h.app.get(CatalogService).provider('sim');
    expect(sim?.apiKey).toBe('sk-sim-secret-gateway-test');
  });

  it('dry run: the changes field by field, nothing applied', async () => {
    const before = await exported('yaml');
    const doc = JSON.parse((await exported('json')).text) as {
      gateways: Record<string, unknown>[];
      providers: Record<string, unknown>[];
    };
    const simB = doc.providers.find((p) => p.id === 'sim-b') as { timeoutMs: number; models: unknown[] };
    simB.timeoutMs = 777;
    (simB.models[0] as { promptPer1k: number }).promptPer1k = 0.5;
    doc.providers = doc.providers.filter((p) => p.id !== 'via-env');
    doc.providers.push({ id: 'fresh', kind: 'openai', baseUrl: 'http://127.0.0.1:9/v1', apiKey: 'sk-fresh-literal' });
    const res = await call<ImportBody>(h, 'POST', `${IMPORT}?dryRun=true`, doc);
    expect(res.status).toBe(200);
    expect(res.body.dryRun).toBe(true);
    expect(res.body.applied).toBe(false);
    expect(res.body.changes.providers).toEqual({
      added: ['fresh'],
      changed: [{ id: 'sim-b', fields: { timeoutMs: { from: 10000, to: 777 } } }],
      removed: ['via-env'],
    });
    expect(res.body.changes.models).toEqual({
      added: [],
      changed: [{ id: 'sim-b/sim-claude', fields: { promptPer1k: { from: 0.003, to: 0.5 } } }],
      removed: ['via-env/e1'],
    });
    expect(JSON.stringify(res.body)).not.toContain('sk-fresh-literal');
    expect((await exported('yaml')).text).toBe(before.text);
    expect(providerIds()).toContain('via-env');
  });

  it('an import with errors names every problem by its path and applies nothing', async () => {
    const before = await exported('yaml');
    const bad = `${before.text.replace('timeoutMs: 10000', 'timeoutMs: -1')}  - id: broken\n    kind: nope\n`;
    const res = await importText(bad, 'text/yaml');
    expect(res.status).toBe(400);
    const error = ((await res.json()) as { error: { message: string; param: string } }).error;
    expect(error.param).toMatch(/^providers\[\d\]\.timeoutMs$/);
    expect(error.message).toContain('providers[3].kind');
    expect(error.message).toContain('providers[3].baseUrl');
    expect((await exported('yaml')).text).toBe(before.text);

    // Problems of the whole document name no field; an unknown top-level key is named.
    const problem = async (text: string): Promise<{ message: string; param: string | null }> => {
      const answer = await importText(text, 'application/yaml');
      expect(answer.status).toBe(400);
      return ((await answer.json()) as { error: { message: string; param: string | null } }).error;
    };
    expect(await problem('providers: [unclosed')).toMatchObject({
      param: null,
      message: expect.stringMatching(/^Invalid configuration .*not valid YAML/) as string,
    });
    expect((await problem('- a')).param).toBeNull();
    expect((await problem('')).param).toBeNull();
    expect((await problem('providers: []\nextra: 1\n')).param).toBe('extra');
    const neither = await call(h, 'POST', IMPORT, '[1, 2]');
    expect(neither.status).toBe(400);
  });

  it('an import applies added, changed and removed in one go, audited without secrets', async () => {
    const doc = JSON.parse((await exported('json')).text) as { providers: Record<string, unknown>[] };
    doc.providers = doc.providers.filter((p) => p.id !== 'via-env');
    (doc.providers.find((p) => p.id === 'sim') as { enabled: boolean }).enabled = false;
    doc.providers.push({ id: 'fresh', kind: 'openai', baseUrl: 'http://127.0.0.1:9/v1', apiKey: 'sk-fresh-literal' });
    const res = await call<ImportBody>(h, 'POST', IMPORT, doc);
    expect(res.status).toBe(200);
    expect(res.body.changes.providers.added).toEqual(['fresh']);
    expect(res.body.changes.providers.removed).toEqual(['via-env']);
    expect(res.body.changes.providers.changed).toEqual([{ id: 'sim', fields: { enabled: { from: true, to: false } } }]);
    expect(providerIds()).toEqual(['fresh', 'sim', 'sim-b']);
    expect(h.app.get(CatalogService).provider('fresh')?.apiKey).toBe('sk-fresh-literal');
    expect(h.app.get(CatalogService).provider('sim')?.enabled).toBe(false);
    const [entry] = await audit(h, 'catalog');
    expect(entry.action).toBe('config.import');
    const rows: unknown[] = await h.app.get(DataSource).query('SELECT * FROM audit_log');
    expect(JSON.stringify(rows)).not.toContain('sk-fresh-literal');
    expect(JSON.stringify(rows)).not.toContain('sk-import-from-env');
  });

  it('every CATALOG_RELOAD_S the catalog is read again, should a provider.changed message be lost', async () => {
    await h.app.get(DataSource).query(`UPDATE providers SET timeout_ms = 4321 WHERE id = 'sim-b'`);
    await waitFor(() => h.app.get(CatalogService).provider('sim-b')?.timeoutMs === 4321, { timeoutMs: 5000 });
  });
});
