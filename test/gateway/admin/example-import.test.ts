import { join } from 'node:path';
import { catalogToYaml, loadCatalogFile } from '@aigw/core';
import { CatalogService } from '@aigw/platform';
import { GatewayHarness } from '../support';
import { exportedConfig } from './admin-support';

const IMPORT = '/api/v1/ai/admin/config/import';
const EXAMPLE = join(__dirname, '../../../config/providers.example.yaml');
/** What the example needs set (its other references have defaults). */
const KEYS = { OPENAI_API_KEY: 'sk-example-openai', ANTHROPIC_API_KEY: 'sk-example-anthropic' };

/**
 * The shipped example, as an operator following the README uses it: PROVIDERS_FILE of one gateway, whose export is
 * imported into another (a staging database copied to production, a second region) with the default
 * ADMIN_KEY_VARIABLES. Every `${VAR}` its apiKeys name must be one the default lists: the import reads them as the
 * admin API does, and a reference not stored in the receiving database is checked (the example once named
 * `${LITELLM_MASTER_KEY:-}`, a 400 naming `gateways[0].apiKey` there). Real PostgreSQL and Redis, over HTTP.
 */
describe('admin API: the example catalog, exported from a gateway seeded with it, imports with the defaults', () => {
  // The receiving gateway allows the example's (disabled) echo plugin, as its operator would to take that entry.
  const h = new GatewayHarness({
    CATALOG_RELOAD_S: '3600',
    ADMIN_ALLOWED_PLUGINS: './examples/plugins/echo-provider.js',
  });
  const saved: Record<string, string | undefined> = {};

  beforeAll(async () => {
    for (const [name, value] of Object.entries(KEYS)) {
      saved[name] = process.env[name];
      process.env[name] = value;
    }
    await h.start();
  }, 60_000);

  afterAll(async () => {
    await h.stop();
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) {
        delete process.env[name];
      } else {
        process.env[name] = value;
      }
    }
  }, 30_000);

  it('200, applied: every gateway and provider of the example, keys kept as their references', async () => {
    // The export of a gateway seeded with the example: URLs resolved (an import reads `${VAR}` only in apiKey),
    // apiKeys as the references the file wrote.
    const exported = catalogToYaml(loadCatalogFile(EXAMPLE, KEYS));
    const res = await fetch(`${h.url}${IMPORT}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.adminKey}`, 'content-type': 'application/yaml' },
      body: exported,
    });
    const body = (await res.json()) as { applied?: boolean; error?: { message: string; param: string | null } };
    expect([res.status, body.error]).toEqual([200, undefined]);
    expect(body.applied).toBe(true);

    const example = loadCatalogFile(EXAMPLE, KEYS);
    const catalog = h.app.get(CatalogService).current;
    expect(catalog.gateways.map((g) => [g.id, g.apiKeyRef])).toEqual(example.gateways.map((g) => [g.id, g.apiKeyRef]));
    expect(catalog.providers.map((p) => [p.id, p.apiKeyRef]).sort()).toEqual(
      example.providers.map((p) => [p.id, p.apiKeyRef]).sort(),
    );
    expect(catalog.providers.find((p) => p.id === 'openai')?.apiKey).toBe(KEYS.OPENAI_API_KEY);
    // And it exports back as it came.
    const again = await exportedConfig(h);
    expect(again.gateways.map((g) => [g.id, g.apiKey])).toEqual(example.gateways.map((g) => [g.id, g.apiKeyRef]));
  });
});
