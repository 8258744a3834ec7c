import { ControlPattern } from '@aigw/core';
import { MIGRATIONS } from '@aigw/entities';
import { CatalogEventsController, CatalogService } from '@aigw/platform';
import { waitFor } from '@aigw/testing';
import { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { GatewayHarness, REDIS_URL } from '../support';
import { audit, call, errorOf, exportedConfig } from './admin-support';

const P = '/api/v1/ai/admin/providers';
const G = '/api/v1/ai/admin/gateways';
const SECRET = 'sk-h11b-literal-secret-value';
const GW_SECRET = 'sk-h11b-gateway-secret-value';

interface ProviderBody {
  id: string;
  kind: string;
  baseUrl: string;
  enabled: boolean;
  routing: string;
  gatewayId: string | null;
  hasApiKey: boolean;
  apiKeyRef: string | null;
  source: string;
  timeoutMs: number;
  models: { id: string; name: string; promptPer1k: number; enabled: boolean }[];
}

const model = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  promptPer1k: 0.001,
  completionPer1k: 0.002,
  contextWindow: 8192,
  ...extra,
});

/** Provider, model and gateway administration over the admin API, against real PostgreSQL and Redis. */
describe('admin API: providers, models and gateways', () => {
  // Reloads only on provider.changed here: the periodic safety net is tested with the config transfer.
  const h = new GatewayHarness({
    CATALOG_RELOAD_S: '3600',
    // The modules the plugin tests name; ./test/gateway/admin/fixtures/unlisted-plugin.js is left out on purpose.
    ADMIN_ALLOWED_PLUGINS:
      './examples/plugins/echo-provider.js, ./no/such/plugin.js,./test/gateway/admin/fixtures/not-a-plugin.js',
  });
  let userKey = '';
  const messages: { ns: string; providerId: string | null }[] = [];
  let sub: Redis;
  // Every provider.changed this gateway's control server handles, with the promise of its handling. Spied on the
  // prototype before boot, since Nest binds the handler when the microservice starts and finds it by the decorator's
  // metadata, which the spy is given.
  let handler: jest.SpiedFunction<CatalogEventsController['onProviderChanged']>;

  beforeAll(async () => {
    const decorated = CatalogEventsController.prototype.onProviderChanged;
    handler = jest.spyOn(CatalogEventsController.prototype, 'onProviderChanged');
    for (const key of Reflect.getMetadataKeys(decorated)) {
      Reflect.defineMetadata(key, Reflect.getMetadata(key, decorated), handler);
    }
    await h.start();
    userKey = await h.userKey('plain-user');
    sub = new Redis(REDIS_URL);
    sub.on('message', (_c: string, raw: string) => {
      const packet = JSON.parse(raw) as { data: { ns: string; providerId: string | null } };
      if (packet.data.ns === h.prefix) {
        messages.push(packet.data);
      }
    });
    await sub.subscribe(ControlPattern.ProviderChanged);
  }, 60_000);
  afterAll(async () => {
    await sub.quit();
    await h.stop();
    handler.mockRestore();
  }, 30_000);

  const catalog = (): CatalogService => h.app.get(CatalogService);
  const everything = async (): Promise<string> => {
    const rows: unknown[] = await h.app.get(DataSource).query('SELECT * FROM audit_log');
    return JSON.stringify(rows);
  };

  it('creates a provider from scratch: 201, the key write-only, live in the catalog, audited, announced', async () => {
    const res = await call<ProviderBody>(h, 'POST', P, {
      id: 'made',
      kind: 'openai',
      baseUrl: `${h.sim.url}/v1/`,
      apiKey: SECRET,
      models: [model('made-gpt')],
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      id: 'made',
      kind: 'openai',
      baseUrl: `${h.sim.url}/v1`,
      enabled: true,
      routing: 'direct',
      gatewayId: null,
      hasApiKey: true,
      apiKeyRef: null,
      source: 'admin',
      timeoutMs: 60000,
      models: [expect.objectContaining({ id: 'made/made-gpt', name: 'made-gpt', capabilities: ['chat', 'streaming'] })],
    });
    expect(JSON.stringify(res.body)).not.toContain(SECRET);
    // This replica's catalog has it before the answer; the key reached it decrypted.
    expect(catalog().provider('made')?.apiKey).toBe(SECRET);
    const stored: { encrypted_secret: string }[] = await h.app
      .get(DataSource)
      .query(`SELECT encrypted_secret FROM providers WHERE id = 'made'`);
    expect(stored[0].encrypted_secret).not.toContain(SECRET);
    const [entry] = await audit(h, 'made');
    expect(entry).toMatchObject({ action: 'provider.create', actor: expect.stringMatching(/^api-key:/) });
    expect(entry.after).toMatchObject({ id: 'made', hasApiKey: true });
    await waitFor(() => messages.some((m) => m.providerId === 'made'), { timeoutMs: 5000 });
  });

  it.each([
    [{ id: 'bad1', kind: 'nope', baseUrl: 'http://x' }, 'kind'],
    [{ id: 'bad2', kind: 'openai' }, 'baseUrl'],
    [{ id: 'bad/3', kind: 'openai', baseUrl: 'http://x' }, 'id'],
    [{ id: 'bad4', kind: 'openai', baseUrl: 'ftp://x' }, 'baseUrl'],
    [{ id: 'bad5', kind: 'openai', baseUrl: 'http://x', color: 'red' }, 'color'],
    [
      { id: 'bad6', kind: 'openai', baseUrl: 'http://x', models: [model('m', { promptPer1k: -1 })] },
      'models[0].promptPer1k',
    ],
    [{ id: 'bad7', kind: 'openai', baseUrl: 'http://x', routing: 'gateway' }, 'gateway'],
    [{ id: 'bad8', kind: 'openai', baseUrl: 'http://x', gatewayId: 'nowhere' }, 'gateway'],
    [{ template: 'nope' }, 'template'],
  ])('400 naming the field for %j, nothing created', async (body, param) => {
    const res = await call(h, 'POST', P, body);
    expect(res.status).toBe(400);
    expect(errorOf(res)).toMatchObject({ code: 'invalid_request', type: 'invalid_request_error', param });
    expect(catalog().provider(String((body as { id?: string }).id))).toBeUndefined();
  });

  it('409 for an id already taken', async () => {
    const res = await call(h, 'POST', P, { id: 'sim', kind: 'openai', baseUrl: 'http://x' });
    expect(res.status).toBe(409);
    expect(errorOf(res)).toMatchObject({ code: 'conflict', param: 'id' });
  });

  it('401 without a key, 403 with a user key, on every command', async () => {
    const routes: [string, string][] = [
      ['POST', P],
      ['PATCH', `${P}/sim`],
      ['POST', `${P}/sim/toggle`],
      ['DELETE', `${P}/sim`],
      ['POST', `${P}/sim/models`],
      ['PATCH', `${P}/sim/models/sim-gpt`],
      ['DELETE', `${P}/sim/models/sim-gpt`],
      ['GET', `${P}/templates`],
      ['GET', G],
      ['POST', G],
      ['PATCH', `${G}/x`],
      ['DELETE', `${G}/x`],
      ['GET', '/api/v1/ai/admin/config/export'],
      ['POST', '/api/v1/ai/admin/config/import'],
    ];
    for (const [method, route] of routes) {
      const anonymous = await fetch(`${h.url}${route}`, { method });
      expect([route, anonymous.status]).toEqual([route, 401]);
      const user = await call(h, method, route, method === 'GET' || method === 'DELETE' ? undefined : {}, userKey);
      expect([route, user.status]).toEqual([route, 403]);
    }
    expect(catalog().provider('sim')?.enabled).toBe(true);
  });

  it('PATCH changes fields, validated; the key is write-only, kept when absent, dropped with null', async () => {
    await call(h, 'POST', P, { id: 'patchy', kind: 'openai', baseUrl: 'http://127.0.0.1:9/v1', apiKey: SECRET });
    const res = await call<ProviderBody>(h, 'PATCH', `${P}/patchy`, {
      timeoutMs: 5000,
      baseUrl: 'http://127.0.0.1:8/v1',
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ timeoutMs: 5000, baseUrl: 'http://127.0.0.1:8/v1', hasApiKey: true });
    expect(catalog().provider('patchy')?.apiKey).toBe(SECRET);

    const rotated = await call<ProviderBody>(h, 'PATCH', `${P}/patchy`, { apiKey: `${SECRET}-2` });
    expect(rotated.body.hasApiKey).toBe(true);
    expect(JSON.stringify(rotated.body)).not.toContain(SECRET);
    expect(catalog().provider('patchy')?.apiKey).toBe(`${SECRET}-2`);

    const dropped = await call<ProviderBody>(h, 'PATCH', `${P}/patchy`, { apiKey: null });
    expect(dropped.body.hasApiKey).toBe(false);
    expect(catalog().provider('patchy')?.apiKey).toBeUndefined();

    for (const [body, param] of [
      [{ timeoutMs: 0 }, 'timeoutMs'],
      [{ routing: 'sideways' }, 'routing'],
      [{ enabled: 'maybe' }, 'enabled'],
      [{ id: 'other' }, 'id'],
      [{ models: [] }, 'models'],
      [{ color: 'red' }, 'color'],
    ] as const) {
      const bad = await call(h, 'PATCH', `${P}/patchy`, body);
      expect([param, bad.status, errorOf(bad).param]).toEqual([param, 400, param]);
    }
    expect(catalog().provider('patchy')?.timeoutMs).toBe(5000);
    expect((await call(h, 'PATCH', `${P}/nowhere`, { timeoutMs: 5 })).status).toBe(404);
    expect(await everything()).not.toContain(SECRET);
  });

  it('a key given as ${VAR} is read from the environment and remembered as the reference', async () => {
    process.env.H11B_TEST_API_KEY = 'sk-from-the-environment';
    const res = await call<ProviderBody>(h, 'POST', P, {
      id: 'envkey',
      kind: 'openai',
      baseUrl: 'http://127.0.0.1:9/v1',
      apiKey: '${H11B_TEST_API_KEY}',
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ hasApiKey: true, apiKeyRef: '${H11B_TEST_API_KEY}' });
    expect(catalog().provider('envkey')?.apiKey).toBe('sk-from-the-environment');
    const unset = await call(h, 'PATCH', `${P}/envkey`, { apiKey: '${H11B_UNSET_API_KEY}' });
    expect(unset.status).toBe(400);
    expect(errorOf(unset).param).toBe('apiKey');
  });

  it("reads the environment only in apiKey, and never the gateway's own secrets: elsewhere a ${VAR} is a 400", async () => {
    process.env.H11B_TEST_API_KEY = 'sk-from-the-environment';
    const base = { kind: 'openai', baseUrl: 'http://127.0.0.1:9/v1' };
    const refused: [string, Record<string, unknown>, string][] = [
      ['POST', { ...base, id: 'leak1', displayName: '${H11B_TEST_API_KEY}' }, 'displayName'],
      ['POST', { ...base, id: 'leak2', baseUrl: 'http://127.0.0.1:9/${H11B_TEST_API_KEY}' }, 'baseUrl'],
      ['POST', { ...base, id: 'leak3', models: [model('m-${H11B_TEST_API_KEY}')] }, 'models[0].name'],
      ['POST', { ...base, id: 'leak4', apiKey: '${DATABASE_URL}' }, 'apiKey'],
      ['POST', { ...base, id: 'leak5', apiKey: '${BOOTSTRAP_ADMIN_KEY:-x}' }, 'apiKey'],
      ['PATCH', { displayName: 'db=${DATABASE_URL:-none}' }, 'displayName'],
    ];
    for (const [method, body, param] of refused) {
      const res = await call(h, method, method === 'POST' ? P : `${P}/envkey`, body);
      expect([res.status, errorOf(res).param]).toEqual([400, param]);
      expect(JSON.stringify(res.body)).not.toContain('sk-from-the-environment');
    }
    const gateway = await call(h, 'POST', G, { id: 'leakgw', baseUrl: 'http://127.0.0.1:9/${H11B_TEST_API_KEY}' });
    expect([gateway.status, errorOf(gateway).param]).toEqual([400, 'baseUrl']);
    const imported = await call(h, 'POST', '/api/v1/ai/admin/config/import?dryRun=true', {
      providers: [{ ...base, id: 'leak6', displayName: '${H11B_TEST_API_KEY}' }],
    });
    expect([imported.status, errorOf(imported).param]).toEqual([400, 'providers[0].displayName']);
    expect(catalog().provider('leak1')).toBeUndefined();
  });

  it('toggle flips enabled, or sets it from {enabled}; 400 and 404 as due', async () => {
    const off = await call<ProviderBody>(h, 'POST', `${P}/sim-b/toggle`);
    expect(off.status).toBe(200);
    expect(off.body.enabled).toBe(false);
    expect(catalog().servingDeployments('sim-b/sim-claude')).toEqual([]);
    const stillOff = await call<ProviderBody>(h, 'POST', `${P}/sim-b/toggle`, { enabled: false });
    expect(stillOff.body.enabled).toBe(false);
    const on = await call<ProviderBody>(h, 'POST', `${P}/sim-b/toggle`);
    expect(on.body.enabled).toBe(true);
    expect(catalog().servingDeployments('sim-b/sim-claude')).toHaveLength(1);
    expect((await call(h, 'POST', `${P}/sim-b/toggle`, { enabled: 'no' })).status).toBe(400);
    expect(errorOf(await call(h, 'POST', `${P}/sim-b/toggle`, { on: true })).param).toBe('on');
    expect((await call(h, 'POST', `${P}/nowhere/toggle`)).status).toBe(404);
    const actions = (await audit(h, 'sim-b')).map((a) => a.action);
    // Setting it to what it already is changes nothing: two changes, two rows.
    expect(actions.filter((a) => a === 'provider.toggle')).toHaveLength(2);
    // The key of a file provider never shows in its audit rows.
    expect(await everything()).not.toContain('sk-sim-secret-gateway-test');
  });

  it('models under a provider: create, change, delete, each validated and audited', async () => {
    await call(h, 'POST', P, { id: 'hosting', kind: 'openai', baseUrl: `${h.sim.url}/v1` });
    const created = await call<{ id: string; promptPer1k: number }>(h, 'POST', `${P}/hosting/models`, model('m1'));
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id: 'hosting/m1', promptPer1k: 0.001, contextWindow: 8192, enabled: true });
    expect(catalog().servingDeployments('hosting/m1')).toHaveLength(1);
    expect((await call(h, 'POST', `${P}/hosting/models`, model('m1'))).status).toBe(409);
    const bad = await call(h, 'POST', `${P}/hosting/models`, model('m2', { contextWindow: -5 }));
    expect([bad.status, errorOf(bad).param]).toEqual([400, 'contextWindow']);
    const noName = await call(h, 'POST', `${P}/hosting/models`, {
      promptPer1k: 1,
      completionPer1k: 1,
      contextWindow: 5,
    });
    expect([noName.status, errorOf(noName).param]).toEqual([400, 'name']);
    const vision = await call(h, 'POST', `${P}/hosting/models`, model('m3', { capabilities: ['chat', 'telepathy'] }));
    expect([vision.status, errorOf(vision).param]).toEqual([400, 'capabilities[1]']);

    const patched = await call<{ promptPer1k: number; quality: number; enabled: boolean }>(
      h,
      'PATCH',
      `${P}/hosting/models/m1`,
      { promptPer1k: 0.5, quality: 0.9, enabled: false },
    );
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ promptPer1k: 0.5, quality: 0.9, enabled: false });
    expect(catalog().servingDeployments('hosting/m1')).toEqual([]);
    const badPatch = await call(h, 'PATCH', `${P}/hosting/models/m1`, { quality: 3 });
    expect([badPatch.status, errorOf(badPatch).param]).toEqual([400, 'quality']);
    expect((await call(h, 'PATCH', `${P}/hosting/models/none`, { quality: 0.1 })).status).toBe(404);
    expect((await call(h, 'PATCH', `${P}/nowhere/models/m1`, { quality: 0.1 })).status).toBe(404);

    const removed = await call(h, 'DELETE', `${P}/hosting/models/m1`);
    expect(removed.status).toBe(200);
    expect(catalog().provider('hosting')?.models).toEqual([]);
    expect((await call(h, 'DELETE', `${P}/hosting/models/m1`)).status).toBe(404);
    const actions = (await audit(h, 'hosting/m1')).map((a) => a.action);
    expect(actions).toEqual(['model.delete', 'model.update', 'model.create']);
  });

  it('bounds what PostgreSQL and the routes can hold: 400 naming the field, never a database error', async () => {
    const base = { kind: 'openai', baseUrl: `${h.sim.url}/v1`, models: [model('b-m')] };
    for (const [body, param] of [
      [{ id: 'big-timeout', ...base, timeoutMs: 1e300 }, 'timeoutMs'],
      [{ id: 'big-pool', ...base, maxConnections: 3_000_000_000 }, 'maxConnections'],
      [
        { id: 'big-window', ...base, models: [model('b-m', { contextWindow: 3_000_000_000 })] },
        'models[0].contextWindow',
      ],
      [{ id: 'nul-name', ...base, models: [model('b-m', { displayName: 'a\u0000b' })] }, 'models[0].displayName'],
      [{ id: 'x'.repeat(65), ...base }, 'id'],
      [{ id: 'long-display', ...base, displayName: 'd'.repeat(100_000) }, 'displayName'],
      [{ id: 'long-display2', ...base, displayName: 'd'.repeat(201) }, 'displayName'],
      [{ id: 'long-model', ...base, models: [model('m'.repeat(257))] }, 'models[0].name'],
      // A model's name for people and its description are listed to every client: bounded as a provider's name.
      [
        { id: 'long-m-name', ...base, models: [model('b-m', { displayName: 'd'.repeat(201) })] },
        'models[0].displayName',
      ],
      [
        { id: 'long-m-desc', ...base, models: [model('b-m', { description: 'd'.repeat(2_001) })] },
        'models[0].description',
      ],
      // Credentials in a URL would be shown in every admin answer and export: refused, never stored.
      [{ id: 'url-secret', ...base, baseUrl: 'https://user:hunter2@example.com/v1' }, 'baseUrl'],
    ] as const) {
      const res = await call(h, 'POST', P, body);
      expect([body.id, res.status, errorOf(res).param]).toEqual([body.id, 400, param]);
      expect(JSON.stringify(res.body)).not.toContain('hunter2');
    }
    // As long as may be: created, and reachable by every route that names it.
    const id = 'p'.repeat(64);
    const name = `org/${'n'.repeat(200)}`;
    expect(
      (await call(h, 'POST', P, { id, ...base, displayName: 'd'.repeat(200), models: [model(name)] })).status,
    ).toBe(201);
    const renamed = await call(h, 'PATCH', `${P}/${id}`, { displayName: 'd'.repeat(201) });
    expect([renamed.status, errorOf(renamed).param]).toEqual([400, 'displayName']);
    const path = `${P}/${id}/models/${encodeURIComponent(name)}`;
    expect((await call(h, 'PATCH', path, { quality: 0.4 })).status).toBe(200);
    for (const [field, length] of [
      ['displayName', 201],
      ['description', 2_001],
    ] as const) {
      const res = await call(h, 'PATCH', path, { [field]: 'd'.repeat(length) });
      expect([res.status, errorOf(res).param]).toEqual([400, field]);
      expect((await call(h, 'PATCH', path, { [field]: 'd'.repeat(length - 1) })).status).toBe(200);
    }
    expect((await call(h, 'DELETE', `${P}/${id}`)).status).toBe(200);
  });

  it('a name or description stored over its limit (before it had one) is cut by the migration: changes work again', async () => {
    // Found by review: every admin change validates the whole provider, so one stored with a 300-character
    // displayName (the admin API took any length) refused a change of its timeout or its models over that name.
    const id = 'legacy-names';
    const base = { id, kind: 'openai', baseUrl: `${h.sim.url}/v1`, models: [model('lm')] };
    expect((await call(h, 'POST', P, base)).status).toBe(201);
    const ds = h.app.get(DataSource);
    // A name of emoji (two UTF-16 units each, as the reader counts): 150 code points, 300 units.
    await ds.query(`UPDATE providers SET display_name = repeat($2, 150) WHERE id = $1`, [id, '\u{1F600}']);
    await ds.query(
      `UPDATE models SET display_name = repeat('m', 300), description = repeat('d', 5000) WHERE provider_id = $1`,
      [id],
    );
    const refused = await call(h, 'PATCH', `${P}/${id}`, { timeoutMs: 9_000 });
    expect([refused.status, errorOf(refused).param]).toEqual([400, 'displayName']);

    const migration = MIGRATIONS.find((m) => m.name === 'ShortDisplayNames1798500000000');
    const migrate = async (): Promise<void> => {
      const runner = ds.createQueryRunner();
      try {
        await new (migration as NonNullable<typeof migration>)().up(runner);
      } finally {
        await runner.release();
      }
    };
    await migrate();

    const changed = await call<ProviderBody & { displayName: string }>(h, 'PATCH', `${P}/${id}`, { timeoutMs: 9_000 });
    expect(changed.status).toBe(200);
    expect(changed.body.timeoutMs).toBe(9_000);
    // Cut to at most 200 units with an ellipsis, never inside a surrogate pair.
    expect(changed.body.displayName).toBe(`${'\u{1F600}'.repeat(99)}…`);
    const m = await call<{ displayName: string; description: string }>(h, 'PATCH', `${P}/${id}/models/lm`, {
      quality: 0.5,
    });
    expect(m.status).toBe(200);
    expect([m.body.displayName.length, m.body.description.length]).toEqual([200, 2_000]);
    expect(m.body.displayName.endsWith('m…')).toBe(true);
    // Within its limits now: a second run leaves it as it is.
    await migrate();
    const again: { display_name: string }[] = await ds.query(`SELECT display_name FROM providers WHERE id = $1`, [id]);
    expect(again[0].display_name).toBe(changed.body.displayName);
    expect((await call(h, 'DELETE', `${P}/${id}`)).status).toBe(200);
  });

  it('DELETE removes a provider with its models; 404 after', async () => {
    await call(h, 'POST', P, { id: 'doomed', kind: 'openai', baseUrl: 'http://127.0.0.1:9/v1', models: [model('d1')] });
    const res = await call<ProviderBody>(h, 'DELETE', `${P}/doomed`);
    expect(res.status).toBe(200);
    expect(res.body.id).toBe('doomed');
    expect(catalog().provider('doomed')).toBeUndefined();
    const rows: unknown[] = await h.app.get(DataSource).query(`SELECT 1 FROM models WHERE provider_id = 'doomed'`);
    expect(rows).toEqual([]);
    expect((await call(h, 'DELETE', `${P}/doomed`)).status).toBe(404);
  });

  it('refuses a plugin module the router-workers could not load at boot, by create, change or import', async () => {
    // Workers load every plugin at boot and refuse to start on a broken one: saving it would stop the next worker.
    const plugin = (id: string, module: string, enabled = true) => ({
      id,
      kind: 'plugin',
      plugin: module,
      baseUrl: 'http://127.0.0.1:9',
      enabled,
      models: [model(`${id}-1`)],
    });
    for (const [module, why] of [
      ['./no/such/plugin.js', /cannot be found/],
      ['./test/gateway/admin/fixtures/not-a-plugin.js', /exports no createAdapter/],
    ] as const) {
      for (const enabled of [true, false]) {
        const res = await call(h, 'POST', P, plugin('broken', module, enabled));
        expect({ module, enabled, status: res.status, param: errorOf(res).param }).toEqual({
          module,
          enabled,
          status: 400,
          param: 'plugin',
        });
        expect(errorOf(res).message).toMatch(why);
      }
    }
    expect(catalog().provider('broken')).toBeUndefined();

    const good = await call<ProviderBody>(h, 'POST', P, plugin('echo-plugin', './examples/plugins/echo-provider.js'));
    expect(good.status).toBe(201);
    const changed = await call(h, 'PATCH', `${P}/echo-plugin`, { plugin: './no/such/plugin.js' });
    expect([changed.status, errorOf(changed).param]).toEqual([400, 'plugin']);
    expect(catalog().provider('echo-plugin')?.plugin).toBe('./examples/plugins/echo-provider.js');

    const config = await exportedConfig(h);
    const broken = config.providers.map((p) =>
      p.id === 'echo-plugin' ? { ...p, plugin: './test/gateway/admin/fixtures/not-a-plugin.js' } : p,
    );
    const index = broken.findIndex((p) => p.id === 'echo-plugin');
    const imported = await call(h, 'POST', '/api/v1/ai/admin/config/import', { ...config, providers: broken });
    expect([imported.status, errorOf(imported).param]).toEqual([400, `providers[${index}].plugin`]);
    expect(catalog().provider('echo-plugin')?.plugin).toBe('./examples/plugins/echo-provider.js');
    // Only the good provider's creation was written.
    expect(await audit(h, 'broken')).toEqual([]);
    expect((await audit(h, 'echo-plugin')).map((a) => a.action)).toEqual(['provider.create']);
    expect((await call(h, 'DELETE', `${P}/echo-plugin`)).status).toBe(200);
  });

  it('refuses, without loading it, a plugin module the operator did not list, by create, change, import or test', async () => {
    // Loading a module runs its code in the gateway (and then in every worker): an admin key must not choose one.
    const unlisted = './test/gateway/admin/fixtures/unlisted-plugin.js';
    const loaded = (): boolean =>
      (globalThis as { __aigwUnlistedPluginLoaded?: boolean }).__aigwUnlistedPluginLoaded === true;
    const body = (id: string, module: string) => ({
      id,
      kind: 'plugin',
      plugin: module,
      baseUrl: 'http://127.0.0.1:9',
      models: [model(`${id}-1`)],
    });
    const created = await call(h, 'POST', P, body('unlisted', unlisted));
    expect([created.status, errorOf(created).param]).toEqual([400, 'plugin']);
    expect(errorOf(created).message).toMatch(/ADMIN_ALLOWED_PLUGINS/);
    expect(catalog().provider('unlisted')).toBeUndefined();

    expect((await call(h, 'POST', P, body('listed', './examples/plugins/echo-provider.js'))).status).toBe(201);
    const changed = await call(h, 'PATCH', `${P}/listed`, { plugin: unlisted });
    expect([changed.status, errorOf(changed).param]).toEqual([400, 'plugin']);
    // A change to the other fields of a provider whose module is listed (or already loaded) passes.
    expect((await call(h, 'PATCH', `${P}/listed`, { displayName: 'Listed echo' })).status).toBe(200);

    const config = await exportedConfig(h);
    const providers = config.providers.map((p) => (p.id === 'listed' ? { ...p, plugin: unlisted } : p));
    const index = providers.findIndex((p) => p.id === 'listed');
    const imported = await call(h, 'POST', '/api/v1/ai/admin/config/import', { ...config, providers });
    expect([imported.status, errorOf(imported).param]).toEqual([400, `providers[${index}].plugin`]);
    // The export itself, with the listed module, imports back (a dry run).
    expect((await call(h, 'POST', '/api/v1/ai/admin/config/import?dryRun=true', config)).status).toBe(200);

    const tested = await call(h, 'POST', `${P}/test`, {
      kind: 'plugin',
      baseUrl: 'http://127.0.0.1:9',
      plugin: unlisted,
    });
    expect([tested.status, errorOf(tested).param]).toEqual([400, 'plugin']);

    expect(loaded()).toBe(false);
    expect(catalog().provider('listed')?.plugin).toBe('./examples/plugins/echo-provider.js');
    expect((await call(h, 'DELETE', `${P}/listed`)).status).toBe(200);
  });

  it('templates: listed, and a Z.ai provider from the template routes through the only gateway', async () => {
    const list = await call<{ data: { name: string; apiKeyEnv: string | null }[]; kinds: string[] }>(
      h,
      'GET',
      `${P}/templates`,
    );
    expect(list.body.data.map((t) => t.name)).toEqual(expect.arrayContaining(['zai', 'openai', 'anthropic']));
    // The kinds a provider from scratch may have: what the catalog accepts, so the console offers no other.
    expect(list.body.kinds).toEqual(['openai', 'anthropic', 'gemini', 'ollama', 'tgi', 'plugin']);
    const noGateway = await call(h, 'POST', P, { template: 'zai' });
    expect([noGateway.status, errorOf(noGateway).param]).toEqual([400, 'gateway']);

    const gw = await call<{ id: string; hasApiKey: boolean }>(h, 'POST', G, {
      id: 'litellm',
      baseUrl: `${h.sim.url}/v1`,
      apiKey: GW_SECRET,
    });
    expect(gw.status).toBe(201);
    expect(gw.body).toMatchObject({ id: 'litellm', hasApiKey: true, timeoutMs: 60000 });
    expect(JSON.stringify(gw.body)).not.toContain(GW_SECRET);

    const zai = await call<ProviderBody>(h, 'POST', P, { template: 'zai', enabled: false });
    expect(zai.status).toBe(201);
    expect(zai.body).toMatchObject({
      id: 'zai',
      baseUrl: 'https://api.z.ai/api/coding/paas/v4',
      routing: 'gateway',
      gatewayId: 'litellm',
      enabled: false,
      apiKeyRef: '${ZAI_API_KEY:-}',
      timeoutMs: 120000,
      models: [expect.objectContaining({ name: 'glm-4.6' })],
    });
    expect(catalog().provider('zai')?.gateway).toBe('litellm');
  });

  it('gateways: list, get, patch (key write-only), 409 deleting one in use, delete, 404', async () => {
    const listed = await call<{ data: { id: string }[] }>(h, 'GET', G);
    expect(listed.body.data.map((g) => g.id)).toContain('litellm');
    const one = await call<{ id: string; hasApiKey: boolean }>(h, 'GET', `${G}/litellm`);
    expect(one.body).toMatchObject({ id: 'litellm', hasApiKey: true });
    const patched = await call<{ timeoutMs: number; hasApiKey: boolean }>(h, 'PATCH', `${G}/litellm`, {
      timeoutMs: 1234,
    });
    expect(patched.body).toMatchObject({ timeoutMs: 1234, hasApiKey: true });
    expect(catalog().current.gateways.find((g) => g.id === 'litellm')?.apiKey).toBe(GW_SECRET);
    const bad = await call(h, 'PATCH', `${G}/litellm`, { baseUrl: 'not a url' });
    expect([bad.status, errorOf(bad).param]).toEqual([400, 'baseUrl']);
    expect((await call(h, 'POST', G, { id: 'litellm', baseUrl: 'http://x' })).status).toBe(409);
    const busy = await call(h, 'DELETE', `${G}/litellm`);
    expect(busy.status).toBe(409);
    expect(errorOf(busy).message).toContain('zai');
    expect((await call(h, 'GET', `${G}/none`)).status).toBe(404);
    expect((await call(h, 'PATCH', `${G}/none`, { timeoutMs: 5 })).status).toBe(404);
    expect((await call(h, 'DELETE', `${G}/none`)).status).toBe(404);

    await call(h, 'POST', G, { id: 'spare', baseUrl: 'http://127.0.0.1:9' });
    expect((await call(h, 'DELETE', `${G}/spare`)).status).toBe(200);
    expect(catalog().current.gateways.map((g) => g.id)).not.toContain('spare');
    expect(await everything()).not.toContain(GW_SECRET);
  });

  it('a provider.changed message from another replica reloads this one; other namespaces are ignored', async () => {
    const db = h.app.get(DataSource);
    const pub = new Redis(REDIS_URL);
    const packet = (ns: string, providerId: string) =>
      JSON.stringify({ pattern: ControlPattern.ProviderChanged, data: { ns, providerId } });
    const handling = async (providerId: string) => {
      const index = () =>
        handler.mock.calls.findIndex(([m]) => (m as { providerId?: string }).providerId === providerId);
      await waitFor(() => index() >= 0, { timeoutMs: 5000 });
      await handler.mock.results[index()].value;
    };
    try {
      // A barrier: this replica's own echoes of the earlier tests' admin changes arrive before it on the same
      // subscription, so none can reload the catalog after the UPDATE below and pass for the foreign message.
      await pub.publish(ControlPattern.ProviderChanged, packet(h.prefix, 'barrier'));
      await handling('barrier');
      await db.query(`UPDATE models SET context_window = 4242 WHERE provider_id = 'sim' AND name = 'sim-gpt'`);
      await pub.publish(ControlPattern.ProviderChanged, packet('someone-else', 'foreign'));
      await handling('foreign');
      expect(catalog().provider('sim')?.models[0].contextWindow).toBe(8192);
      await pub.publish(ControlPattern.ProviderChanged, packet(h.prefix, 'sim'));
      await handling('sim');
      expect(catalog().provider('sim')?.models[0].contextWindow).toBe(4242);
    } finally {
      await pub.quit();
    }
  });
});
