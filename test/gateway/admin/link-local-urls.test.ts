import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { GatewaySpec, ProviderSpec } from '@aigw/core';
import { KEEP_SECRET } from '@aigw/entities';
import { CatalogService, MigratedDatabase } from '@aigw/platform';
import { dump } from 'js-yaml';
import { CatalogChanges } from '../../../apps/api-gateway/src/admin/catalog-changes';
import { GatewayHarness } from '../support';
import { call, errorOf, exportedConfig } from './admin-support';

const P = '/api/v1/ai/admin/providers';
const G = '/api/v1/ai/admin/gateways';
const IMPORT = '/api/v1/ai/admin/config/import';

const model = { name: 'll-gpt', promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192 };
const provider = (id: string, baseUrl: string) => ({ id, kind: 'openai', baseUrl, models: [model] });

/**
 * A provider or gateway URL at a link-local or cloud metadata address is refused by every call (HttpPool's guard),
 * so the admin API refuses to save it (400 naming `baseUrl`) unless PROVIDER_ALLOW_LINK_LOCAL is set: an admin learns
 * of it when saving, not from every request failing afterwards. Real PostgreSQL and Redis, over HTTP.
 */
describe('admin API: base URLs at link-local / cloud metadata addresses', () => {
  describe('by default', () => {
    const h = new GatewayHarness({ CATALOG_RELOAD_S: '3600' });
    beforeAll(() => h.start(), 60_000);
    afterAll(() => h.stop(), 30_000);
    const catalog = (): CatalogService => h.app.get(CatalogService);

    it.each([
      ['metadata', 'http://169.254.169.254/latest/meta-data/iam/security-credentials/role'],
      ['ecs', 'http://169.254.170.2/v2'],
      ['mapped', 'http://[::ffff:169.254.169.254]/v1'],
      ['mapped-hex', 'http://[::ffff:a9fe:a9fe]/v1'],
      ['decimal', 'http://2852039166/v1'],
      ['aws-v6', 'http://[fd00:ec2::254]/v1'],
      ['nat64', 'http://[64:ff9b::a9fe:a9fe]/v1'],
      ['compat', 'http://[::169.254.169.254]/v1'],
      ['6to4', 'http://[2002:a9fe:a9fe::1]/v1'],
      ['teredo', 'http://[2001:0:4136:e378:8000:63bf:5601:5601]/v1'],
      ['fe80', 'https://[fe80::1]:8443/v1'],
    ])('POST a provider at %s (%s): 400 naming baseUrl and the variable, nothing saved', async (id, baseUrl) => {
      const res = await call(h, 'POST', P, provider(`ll-${id}`, baseUrl));
      expect(res.status).toBe(400);
      const error = errorOf(res);
      expect(error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_request', param: 'baseUrl' });
      expect(error.message).toMatch(/baseUrl .*link-local.*PROVIDER_ALLOW_LINK_LOCAL=true/);
      expect(catalog().provider(`ll-${id}`)).toBeUndefined();
    });

    it('POST a provider at the simulator (loopback): 201', async () => {
      const res = await call(h, 'POST', P, provider('ll-sim', `${h.sim.url}/v1`));
      expect(res.status).toBe(201);
      expect(catalog().provider('ll-sim')?.baseUrl).toBe(`${h.sim.url}/v1`);
    });

    it('a host name is saved: what it resolves to is only known, and refused, when it is called', async () => {
      const res = await call(h, 'POST', P, provider('ll-name', 'http://metadata.google.internal/v1'));
      expect(res.status).toBe(201);
    });

    it('PATCH a provider to such an address: 400 naming baseUrl, the stored URL unchanged', async () => {
      const before = catalog().provider('sim')?.baseUrl;
      const res = await call(h, 'PATCH', `${P}/sim`, { baseUrl: 'http://[::ffff:169.254.169.254]/v1' });
      expect(res.status).toBe(400);
      expect(errorOf(res)).toMatchObject({ type: 'invalid_request_error', param: 'baseUrl' });
      expect(catalog().provider('sim')?.baseUrl).toBe(before);
    });

    it('a gateway (LiteLLM) at such an address: 400 naming baseUrl, on create and on update', async () => {
      const created = await call(h, 'POST', G, { id: 'll-gw', baseUrl: 'http://169.254.169.254/v1' });
      expect(created.status).toBe(400);
      expect(errorOf(created)).toMatchObject({ type: 'invalid_request_error', param: 'baseUrl' });
      expect((await call(h, 'POST', G, { id: 'll-gw', baseUrl: `${h.sim.url}/v1` })).status).toBe(201);
      const updated = await call(h, 'PATCH', `${G}/ll-gw`, { baseUrl: 'http://[fd00:ec2::254]/v1' });
      expect([updated.status, errorOf(updated).param]).toEqual([400, 'baseUrl']);
    });

    it('a gateway stored at such an address before (an earlier release, or the variable set) blocks no provider save', async () => {
      // Written to the store as it was then, past today's check.
      const changes = h.app.get(CatalogChanges);
      const old = { id: 'll-old-gw', baseUrl: 'http://169.254.169.254/v1', timeoutMs: 30_000 };
      await changes.read((tx) => tx.putGateway(old, KEEP_SECRET));
      const res = await call(h, 'POST', P, provider('ll-after-old-gw', `${h.sim.url}/v1`));
      await changes.read((tx) => tx.deleteGateway(old.id));
      expect(res.status).toBe(201);
      expect(catalog().provider('ll-after-old-gw')?.baseUrl).toBe(`${h.sim.url}/v1`);
    });

    it('an import naming such an address: 400 naming the entry, nothing applied', async () => {
      const doc = await exportedConfig(h);
      const index = doc.providers.findIndex((p) => p.id === 'sim');
      doc.providers[index].baseUrl = 'http://[::ffff:169.254.169.254]/v1';
      const res = await call(h, 'POST', IMPORT, doc);
      expect(res.status).toBe(400);
      expect(errorOf(res)).toMatchObject({ type: 'invalid_request_error', param: `providers[${index}].baseUrl` });
      expect(catalog().provider('sim')?.baseUrl).toBe(`${h.sim.url}/v1`);
    });
  });

  /**
   * Upgrading: an operator with an LLM server at 169.254.x.x set PROVIDER_ALLOW_LINK_LOCAL only on the router-worker
   * and health-monitor (the README once said only they read it). What is stored there is checked only when it is new
   * or changes: other changes of its entry, an unchanged export imported back and a start whose PROVIDERS_FILE holds
   * it as stored go through; pointing an entry at a new such address is still refused.
   */
  describe('an entry stored at such an address before (an earlier release, or the variable set)', () => {
    const h = new GatewayHarness({ CATALOG_RELOAD_S: '3600' });
    const url = 'http://169.254.10.20:8000/v1';
    const stored: ProviderSpec = {
      id: 'll-stored',
      kind: 'openai',
      baseUrl: url,
      enabled: true,
      timeoutMs: 30_000,
      maxConnections: 16,
      routing: 'direct',
      models: [{ ...model, capabilities: ['chat'], enabled: true }],
    };
    const storedGateway: GatewaySpec = { id: 'll-stored-gw', baseUrl: 'http://169.254.10.21:4000', timeoutMs: 30_000 };
    const catalog = (): CatalogService => h.app.get(CatalogService);

    beforeAll(async () => {
      await h.start();
      // Written to the store as it was then, past today's check.
      await h.app.get(CatalogChanges).read(async (tx) => {
        await tx.putProvider(stored, { set: null });
        await tx.putGateway(storedGateway, { set: null });
      });
      await catalog().reload();
    }, 60_000);
    afterAll(() => h.stop(), 30_000);

    it('PATCH of another field (timeoutMs): 200, saved, the URL kept', async () => {
      const res = await call(h, 'PATCH', `${P}/ll-stored`, { timeoutMs: 45_000 });
      expect(res.status).toBe(200);
      expect(catalog().provider('ll-stored')).toMatchObject({ timeoutMs: 45_000, baseUrl: url });
    });

    it('PATCH sending the stored URL again (with a trailing slash): 200', async () => {
      const res = await call(h, 'PATCH', `${P}/ll-stored`, { baseUrl: `${url}/`, timeoutMs: 46_000 });
      expect(res.status).toBe(200);
      expect(catalog().provider('ll-stored')).toMatchObject({ timeoutMs: 46_000, baseUrl: url });
    });

    it('a model created and updated on it: 201, 200', async () => {
      const created = await call(h, 'POST', `${P}/ll-stored/models`, { ...model, name: 'll-second' });
      expect(created.status).toBe(201);
      const updated = await call(h, 'PATCH', `${P}/ll-stored/models/ll-second`, { promptPer1k: 0.005 });
      expect(updated.status).toBe(200);
      const models = catalog().provider('ll-stored')?.models ?? [];
      expect(models.find((m) => m.name === 'll-second')?.promptPer1k).toBe(0.005);
    });

    it('PATCH to a new link-local address: still 400 naming baseUrl, the stored URL unchanged', async () => {
      const res = await call(h, 'PATCH', `${P}/ll-stored`, { baseUrl: 'http://169.254.169.254/v1' });
      expect(res.status).toBe(400);
      expect(errorOf(res)).toMatchObject({ type: 'invalid_request_error', param: 'baseUrl' });
      expect(errorOf(res).message).toMatch(/PROVIDER_ALLOW_LINK_LOCAL=true .*api-gateway/);
      expect(catalog().provider('ll-stored')?.baseUrl).toBe(url);
    });

    it('a provider created at the stored URL under another id: 400 (the check is per entry)', async () => {
      const res = await call(h, 'POST', P, provider('ll-copy', url));
      expect([res.status, errorOf(res).param]).toEqual([400, 'baseUrl']);
    });

    it('the gateway: PATCH timeoutMs 200; PATCH to a new link-local address 400', async () => {
      const ok = await call(h, 'PATCH', `${G}/ll-stored-gw`, { timeoutMs: 20_000 });
      expect(ok.status).toBe(200);
      const refused = await call(h, 'PATCH', `${G}/ll-stored-gw`, { baseUrl: 'http://169.254.169.254' });
      expect([refused.status, errorOf(refused).param]).toEqual([400, 'baseUrl']);
    });

    it('export, then import of it unchanged: 200, nothing changed', async () => {
      const doc = await exportedConfig(h);
      const res = await call<{ applied: boolean }>(h, 'POST', IMPORT, doc);
      expect(res.status).toBe(200);
      expect(res.body.applied).toBe(true);
      expect(await exportedConfig(h)).toEqual(doc);
    });

    it('an import moving the stored entry to another link-local address: 400 naming it', async () => {
      const doc = await exportedConfig(h);
      const index = doc.providers.findIndex((p) => p.id === 'll-stored');
      doc.providers[index].baseUrl = 'http://169.254.10.99:8000/v1';
      const res = await call(h, 'POST', IMPORT, doc);
      expect([res.status, errorOf(res).param]).toEqual([400, `providers[${index}].baseUrl`]);
      expect(catalog().provider('ll-stored')?.baseUrl).toBe(url);
    });

    describe('a start whose PROVIDERS_FILE lists it', () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-ll-'));
      afterAll(() => rmSync(dir, { recursive: true, force: true }));

      /** CatalogService's start (seeding the file), as the api-gateway runs it, on the harness's schema. */
      const start = async (baseUrl: string): Promise<void> => {
        const file = path.join(dir, `providers-${Math.random().toString(36).slice(2)}.yaml`);
        const entry = { id: 'll-stored', kind: 'openai', baseUrl, models: [model] };
        writeFileSync(file, dump({ providers: [entry] }));
        const service = new CatalogService({ ...h.env, PROVIDERS_FILE: file }, h.app.get(MigratedDatabase));
        try {
          await service.onModuleInit();
        } finally {
          service.onApplicationShutdown();
        }
      };

      it('as stored: starts', async () => {
        await expect(start(url)).resolves.toBeUndefined();
      });

      it('at another link-local address: stops, naming the entry and the variable on the api-gateway', async () => {
        await expect(start('http://169.254.10.99:8000/v1')).rejects.toThrow(
          /providers\[0\]\.baseUrl is at a link-local[^]*PROVIDER_ALLOW_LINK_LOCAL=true to allow it, on the api-gateway/,
        );
      });
    });
  });

  describe('with PROVIDER_ALLOW_LINK_LOCAL=true', () => {
    const h = new GatewayHarness({ CATALOG_RELOAD_S: '3600', PROVIDER_ALLOW_LINK_LOCAL: 'true' });
    beforeAll(() => h.start(), 60_000);
    afterAll(() => h.stop(), 30_000);

    it.each([
      ['metadata', 'http://169.254.169.254/v1'],
      ['mapped', 'http://[::ffff:169.254.169.254]/v1'],
    ])('POST a provider at %s (%s): 201, saved as sent', async (id, baseUrl) => {
      const res = await call(h, 'POST', P, provider(`ll-${id}`, baseUrl));
      expect(res.status).toBe(201);
      expect(h.app.get(CatalogService).provider(`ll-${id}`)?.baseUrl).toBe(baseUrl);
    });

    it('a gateway at such an address: 201', async () => {
      expect((await call(h, 'POST', G, { id: 'll-gw', baseUrl: 'http://169.254.169.254/v1' })).status).toBe(201);
    });
  });
});
