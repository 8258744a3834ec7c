import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { freePort, ProviderSimulator, waitFor } from '@aigw/testing';
import { Redis } from 'ioredis';
import type { ConnectionTestResult } from '@aigw/core';
import { REDIS_URL, TestSystem } from './harness';

const GATEWAY_KEY = 'sk-litellm-master-e2e-0123456789';
const SIM_KEY = 'sk-sim-secret-e2e-0123456789';
const UNSAVED_KEY = 'sk-unsaved-form-key-0123456789';
/** In the api-gateway's environment only: a form's `${CT_E2E_FORM_API_KEY}` reads it there, as saving the form would. */
const FORM_KEY = 'sk-form-key-from-the-environment-0123';
/**
 * In every app's environment, named by a provider of the file: a variable the default ADMIN_KEY_VARIABLES does not
 * list (`*_TOKEN`), stored as that provider's apiKeyRef when the file is seeded.
 */
const SEEDED_KEY = 'sk-seeded-token-from-the-environment-01';
const SEEDED_REF = '${CT_E2E_SEEDED_TOKEN}';

interface Envelope {
  error: { message: string; type: string; code: string; param: string | null };
}

/**
 * The connection test end to end: the real api-gateway asks the real health-monitor over the control transport
 * (`health.probe`); a second simulator plays the LiteLLM proxy.
 */
describe('connection test (POST /api/v1/ai/admin/providers[/:id]/test)', () => {
  const proxy = new ProviderSimulator({ models: ['glm-4.6', 'gpt-4o-mini'], requireAuth: true }, { name: 'litellm' });
  let closedPort = 0;
  let system: TestSystem;
  /** A provider that records the Authorization header of every request. */
  let keyed: Server;
  let keyedUrl = '';
  const authorizations: (string | undefined)[] = [];

  const test = async <T = ConnectionTestResult>(
    route: string,
    body?: unknown,
    key = system.adminKey,
    gatewayUrl = system.gatewayUrl,
  ): Promise<{ status: number; body: T; text: string }> => {
    const res = await fetch(`${gatewayUrl}/api/v1/ai/admin/providers${route}`, {
      method: 'POST',
      headers: system.headers(key),
      body: JSON.stringify(body ?? {}),
    });
    const text = await res.text();
    return { status: res.status, body: JSON.parse(text) as T, text };
  };
  const completions = (sim: ProviderSimulator): number => sim.stats().byRoute['POST /v1/chat/completions'] ?? 0;

  beforeAll(async () => {
    await proxy.start();
    keyed = createServer((req, res) => {
      authorizations.push(req.headers.authorization);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"object":"list","data":[{"id":"m1"}]}');
    });
    await new Promise<void>((resolve) => keyed.listen(0, '127.0.0.1', resolve));
    keyedUrl = `http://127.0.0.1:${(keyed.address() as AddressInfo).port}/v1`;
    closedPort = await freePort();
    system = await new TestSystem({
      appEnv: {
        'health-monitor': { PROBE_TIMEOUT_MS: '2000', CT_E2E_SEEDED_TOKEN: SEEDED_KEY },
        'api-gateway': { CT_E2E_FORM_API_KEY: FORM_KEY, CT_E2E_SEEDED_TOKEN: SEEDED_KEY },
        'router-worker': { CT_E2E_SEEDED_TOKEN: SEEDED_KEY },
      },
      catalog: (s) => `gateways:
  - { id: litellm, baseUrl: ${proxy.url}/v1, apiKey: ${GATEWAY_KEY}, timeoutMs: 5000 }
  - id: seeded-gw
    baseUrl: http://127.0.0.1:${closedPort}/v1
    apiKey: ${SEEDED_REF}
providers:
  - id: zai
    kind: openai
    baseUrl: http://127.0.0.1:${closedPort}/api/paas/v4
    apiKey: sk-zai-secret-0123456789
    routing: auto
    gateway: litellm
    models:
      - { name: glm-4.6, promptPer1k: 0.0006, completionPer1k: 0.0022, contextWindow: 128000 }
  - id: sim
    kind: openai
    baseUrl: ${s.sim.url}/v1
    apiKey: ${SIM_KEY}
    models:
      - { name: sim-gpt, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192 }
  - id: sim-billed
    kind: openai
    baseUrl: ${s.sim.url}/v1
    apiKey: ${SIM_KEY}
    probe: completion
    models:
      - { name: sim-gpt, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192 }
  - id: keyless
    kind: openai
    baseUrl: ${proxy.url}/v1
    models:
      - { name: glm-4.6, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192 }
  - id: seeded-ref
    kind: openai
    baseUrl: http://127.0.0.1:${closedPort}/v1
    apiKey: ${SEEDED_REF}
    enabled: false
    models:
      - { name: sr-1, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192 }
`,
    }).start();
  });

  afterAll(async () => {
    await system?.stop();
    await proxy.stop();
    await new Promise<void>((resolve) => (keyed === undefined ? resolve() : keyed.close(() => resolve())));
  });

  beforeEach(() => {
    system.sim.reset();
    proxy.reset();
  });

  it('auto provider refused directly but served by the gateway: says so and suggests the gateway', async () => {
    const res = await test('/zai/test');
    expect(res.status).toBe(200);
    expect(res.body.providerId).toBe('zai');
    const [direct, gateway] = res.body.routes;
    expect(direct).toMatchObject({ route: 'direct', ok: false, diagnosis: { code: 'connection_refused' } });
    expect(direct.diagnosis?.message).toContain(`127.0.0.1:${closedPort}`);
    expect(gateway).toMatchObject({ route: 'gateway', ok: true, status: 200 });
    expect(gateway.models).toEqual(['glm-4.6', 'gpt-4o-mini']);
    expect(res.body.suggestion).toMatchObject({
      code: 'use_gateway',
      yaml: 'routing: gateway\ngateway: litellm\n',
      patch: { routing: 'gateway', gatewayId: 'litellm' },
    });
    expect(res.body.suggestion?.message).toContain('route this provider through the gateway');
    // The proxy was asked for its model list, with the gateway's key, and never for a completion.
    expect(proxy.stats()).toMatchObject({ byRoute: { 'GET /v1/models': 1 }, authorized: 1 });
    for (const secret of [GATEWAY_KEY, 'sk-zai-secret-0123456789']) {
      expect(res.text).not.toContain(secret);
    }
  });

  it('a working direct provider lists its models, without a completion; an opted-in one sends exactly one', async () => {
    const ok = await test('/sim/test');
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({
      providerId: 'sim',
      routes: [
        {
          route: 'direct',
          ok: true,
          latencyMs: expect.any(Number) as number,
          status: 200,
          models: expect.any(Array) as string[],
        },
      ],
    });
    expect(system.sim.stats().byRoute).toEqual({ 'GET /v1/models': 1 });
    expect(completions(system.sim)).toBe(0);

    const billed = await test('/sim-billed/test');
    expect(billed.body.routes[0]).toMatchObject({ route: 'direct', ok: true });
    expect(completions(system.sim)).toBe(1);
  });

  it('a provider without its key is diagnosed unauthorized, saying where to set it', async () => {
    const res = await test('/keyless/test');
    expect(res.body.routes[0]).toMatchObject({ ok: false, status: 401, diagnosis: { code: 'unauthorized' } });
    expect(res.body.routes[0].diagnosis?.suggestion).toContain('apiKey');
    expect(res.body.suggestion).toBeUndefined();
  });

  it('tests unsaved settings, never echoing the key; a wrong path is not_found', async () => {
    const res = await test('/test', { kind: 'openai', baseUrl: system.sim.url, apiKey: UNSAVED_KEY });
    expect(res.status).toBe(200);
    expect(res.body.providerId).toBeNull();
    expect(res.body.routes).toHaveLength(1);
    expect(res.body.routes[0]).toMatchObject({
      route: 'direct',
      ok: false,
      status: 404,
      diagnosis: { code: 'not_found' },
    });
    expect(res.body.routes[0].diagnosis?.suggestion).toContain('/v1');
    expect(system.sim.stats().authorized).toBe(1);
    expect(res.text).not.toContain(UNSAVED_KEY);
    expect(system.apps.flatMap((a) => a.output).join('')).not.toContain(UNSAVED_KEY);

    const auto = await test('/test', {
      kind: 'openai',
      baseUrl: `http://127.0.0.1:${closedPort}/v1`,
      routing: 'auto',
      gatewayId: 'litellm',
      models: ['glm-4.6'],
    });
    expect(auto.body.routes.map((r) => [r.route, r.ok])).toEqual([
      ['direct', false],
      ['gateway', true],
    ]);
    expect(auto.body.suggestion?.patch).toEqual({ routing: 'gateway', gatewayId: 'litellm' });
    expect(completions(system.sim) + completions(proxy)).toBe(0);
  });

  it('a key typed into the form crosses Redis sealed: never in clear text on pub/sub, and still reaches the provider', async () => {
    const sub = new Redis(REDIS_URL);
    const seen: string[] = [];
    sub.on('pmessage', (_pattern: string, channel: string, raw: string) => seen.push(`${channel} ${raw}`));
    await sub.psubscribe('*');
    try {
      const before = authorizations.length;
      const res = await test('/test', { kind: 'openai', baseUrl: keyedUrl, apiKey: UNSAVED_KEY });
      expect(res.status).toBe(200);
      expect(res.body.routes[0]).toMatchObject({ route: 'direct', ok: true, status: 200 });
      expect(authorizations.slice(before)).toEqual([`Bearer ${UNSAVED_KEY}`]);
      // The request did cross pub/sub (so the check below looked at it), with its key sealed.
      const request = seen.find((m) => m.includes('health.probe') && m.includes(keyedUrl));
      expect(request).toContain('sealedApiKey');
      expect(seen.join('\n')).not.toContain(UNSAVED_KEY);
      expect(seen.join('\n')).not.toContain(Buffer.from(UNSAVED_KEY).toString('base64').slice(0, 16));
    } finally {
      authorizations.length = 0;
      await sub.quit();
    }
  });

  it('refuses a sealed key copied into a message naming another URL (a replay on pub/sub)', async () => {
    const sub = new Redis(REDIS_URL);
    let request: { pattern: string; data: { provider: Record<string, unknown>; testId: string } } | undefined;
    sub.on('pmessage', (_pattern: string, channel: string, raw: string) => {
      if (channel.endsWith('health.probe') && raw.includes('sealedApiKey')) {
        request ??= JSON.parse(raw) as typeof request;
      }
    });
    await sub.psubscribe('*');
    const pub = new Redis(REDIS_URL);
    try {
      await test('/test', { kind: 'openai', baseUrl: keyedUrl, apiKey: UNSAVED_KEY });
      await waitFor(() => request !== undefined);
      const before = authorizations.length;
      const channel = (await pub.pubsub('CHANNELS', '*health.probe')) as string[];
      const replay = { ...request, id: 'replay-1', data: { ...request!.data, testId: 'replay-1' } };
      replay.data.provider = { ...replay.data.provider, baseUrl: `${keyedUrl}/stolen` };
      await pub.publish(channel[0], JSON.stringify(replay));
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(authorizations.slice(before)).toEqual([]);
    } finally {
      authorizations.length = 0;
      await sub.quit();
      await pub.quit();
    }
  });

  it('refuses a link-local (cloud metadata) URL without connecting, and says so (loopback: the tests around it)', async () => {
    const started = Date.now();
    const res = await test('/test', {
      kind: 'openai',
      baseUrl: 'http://169.254.169.254/latest/meta-data/iam/security-credentials/role?',
    });
    expect(res.status).toBe(200);
    expect(res.body.routes[0]).toMatchObject({ route: 'direct', ok: false, diagnosis: { code: 'connection_refused' } });
    expect(res.body.routes[0].diagnosis?.message).toContain('did not connect to 169.254.169.254');
    expect(res.body.routes[0].diagnosis?.suggestion).toContain('PROVIDER_ALLOW_LINK_LOCAL=true');
    // Refused before connecting: not the monitor's 2 s probe timeout.
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it('reads a ${VAR} key of unsaved settings as saving them would: from the environment, refused when unset', async () => {
    const res = await test('/test', { kind: 'openai', baseUrl: `${keyedUrl}/`, apiKey: '${CT_E2E_FORM_API_KEY}' });
    expect(res.status).toBe(200);
    expect(res.body.routes[0]).toMatchObject({ route: 'direct', ok: true, status: 200, models: ['m1'] });
    expect(authorizations).toEqual([`Bearer ${FORM_KEY}`]);
    expect(res.text).not.toContain(FORM_KEY);

    for (const apiKey of ['${CT_E2E_UNSET_KEY}', '${DATABASE_URL}']) {
      const refused = await test<Envelope>('/test', { kind: 'openai', baseUrl: keyedUrl, apiKey });
      expect([apiKey, refused.status, refused.body.error.param]).toEqual([apiKey, 400, 'apiKey']);
      expect(refused.text).not.toContain('postgres://');
    }
    expect(authorizations).toHaveLength(1);
  });

  it("tests a saved provider's changed settings with its stored ${VAR} key, as a PATCH of that provider accepts it", async () => {
    // Seeded from the file with a variable outside ADMIN_KEY_VARIABLES: a PATCH sending its reference back is taken.
    const patched = await fetch(`${system.gatewayUrl}/api/v1/ai/admin/providers/seeded-ref`, {
      method: 'PATCH',
      headers: system.headers(),
      body: JSON.stringify({ apiKey: SEEDED_REF, timeoutMs: 20_000 }),
    });
    expect(patched.status).toBe(200);
    // So is a test of those settings that says whose they are: the key read as that PATCH read it, sent once.
    const settings = { kind: 'openai', baseUrl: keyedUrl, apiKey: SEEDED_REF };
    const before = authorizations.length;
    const res = await test('/test', { ...settings, providerId: 'seeded-ref' });
    expect(res.status).toBe(200);
    expect(res.body.providerId).toBeNull();
    expect(res.body.routes[0]).toMatchObject({ route: 'direct', ok: true, status: 200, models: ['m1'] });
    expect(authorizations.slice(before)).toEqual([`Bearer ${SEEDED_KEY}`]);
    expect(res.text).not.toContain(SEEDED_KEY);

    // As a new provider, or as changed settings of another one, it is refused as saving them would be: nothing sent.
    for (const whose of [{}, { providerId: 'sim' }]) {
      const refused = await test<Envelope>('/test', { ...settings, ...whose });
      expect([whose, refused.status, refused.body.error.param]).toEqual([whose, 400, 'apiKey']);
      expect(refused.body.error.message).toContain('must not reference environment variable CT_E2E_SEEDED_TOKEN');
    }
    const unknown = await test<Envelope>('/test', { ...settings, providerId: 'nope' });
    expect([unknown.status, unknown.body.error.code, unknown.body.error.param]).toEqual([
      404,
      'not_found',
      'providerId',
    ]);
    expect(authorizations).toHaveLength(before + 1);
  });

  it("tests a saved provider's changed settings without a key with its stored key, as its PATCH keeps it", async () => {
    // The console's Edit form: a changed URL, the key field left empty (the key stays as it is when saved).
    const settings = { kind: 'openai', baseUrl: keyedUrl, providerId: 'sim' };
    const before = authorizations.length;
    const res = await test('/test', settings);
    expect(res.status).toBe(200);
    expect(res.body.providerId).toBeNull();
    expect(res.body.routes[0]).toMatchObject({ route: 'direct', ok: true, status: 200, models: ['m1'] });
    expect(authorizations.slice(before)).toEqual([`Bearer ${SIM_KEY}`]);
    expect(res.text).not.toContain(SIM_KEY);
    // A key sent is the one tested; without providerId, none is sent.
    await test('/test', { ...settings, apiKey: UNSAVED_KEY });
    await test('/test', { kind: 'openai', baseUrl: keyedUrl });
    expect(authorizations.slice(before + 1)).toEqual([`Bearer ${UNSAVED_KEY}`, undefined]);
    // A provider that has no key stays without one.
    await test('/test', { ...settings, providerId: 'keyless' });
    expect(authorizations.slice(before + 3)).toEqual([undefined]);
  });

  it("tests a saved gateway's changed settings with its stored ${VAR} key, as a PATCH of that gateway accepts it", async () => {
    // The console's Gateway screen saves only settings that passed its test: a gateway seeded from the file with a
    // variable outside ADMIN_KEY_VARIABLES takes a PATCH sending its reference back...
    const patched = await fetch(`${system.gatewayUrl}/api/v1/ai/admin/gateways/seeded-gw`, {
      method: 'PATCH',
      headers: system.headers(),
      body: JSON.stringify({ apiKey: SEEDED_REF, timeoutMs: 20_000 }),
    });
    expect(patched.status).toBe(200);
    // ...and so does a test of those settings that says they are that gateway's (the Gateway screen tests them as an
    // OpenAI provider's): the key read as that PATCH read it, sent once.
    const settings = { kind: 'openai', baseUrl: keyedUrl, apiKey: SEEDED_REF };
    const before = authorizations.length;
    const res = await test('/test', { ...settings, settingsOfGateway: 'seeded-gw' });
    expect(res.status).toBe(200);
    expect(res.body.routes[0]).toMatchObject({ route: 'direct', ok: true, status: 200, models: ['m1'] });
    expect(authorizations.slice(before)).toEqual([`Bearer ${SEEDED_KEY}`]);
    expect(res.text).not.toContain(SEEDED_KEY);

    // As new settings, as another gateway's, or as a provider's of that id (none: a provider's reference is looked up
    // among the providers only), refused as saving them would be: nothing sent.
    for (const whose of [{}, { settingsOfGateway: 'litellm' }]) {
      const refused = await test<Envelope>('/test', { ...settings, ...whose });
      expect([whose, refused.status, refused.body.error.param]).toEqual([whose, 400, 'apiKey']);
      expect(refused.body.error.message).toContain('must not reference environment variable CT_E2E_SEEDED_TOKEN');
    }
    const asProvider = await test<Envelope>('/test', { ...settings, providerId: 'seeded-gw' });
    expect([asProvider.status, asProvider.body.error.param]).toEqual([404, 'providerId']);
    // The provider seeded with the same reference is not a gateway: its id names none.
    const unknown = await test<Envelope>('/test', { ...settings, settingsOfGateway: 'seeded-ref' });
    expect([unknown.status, unknown.body.error.code, unknown.body.error.param]).toEqual([
      404,
      'not_found',
      'settingsOfGateway',
    ]);
    const both = await test<Envelope>('/test', {
      ...settings,
      providerId: 'seeded-ref',
      settingsOfGateway: 'seeded-gw',
    });
    expect([both.status, both.body.error.param]).toEqual([400, 'settingsOfGateway']);
    expect(authorizations).toHaveLength(before + 1);
  });

  it("tests changed settings with a saved gateway's stored key, which never leaves the server", async () => {
    const unsaved = { kind: 'openai', baseUrl: `${proxy.url}/v1` };
    const without = await test('/test', unsaved);
    expect(without.body.routes[0]).toMatchObject({ ok: false, status: 401 });
    proxy.reset();
    const stored = await test('/test', { ...unsaved, apiKeyFromGateway: 'litellm' });
    expect(stored.status).toBe(200);
    expect(stored.body.routes[0]).toMatchObject({ route: 'direct', ok: true, status: 200 });
    expect(proxy.stats()).toMatchObject({ byRoute: { 'GET /v1/models': 1 }, authorized: 1 });
    expect(stored.text).not.toContain(GATEWAY_KEY);

    const unknown = await test<Envelope>('/test', { ...unsaved, apiKeyFromGateway: 'nope' });
    expect([unknown.status, unknown.body.error.code, unknown.body.error.param]).toEqual([
      404,
      'not_found',
      'apiKeyFromGateway',
    ]);
    const both = await test<Envelope>('/test', { ...unsaved, apiKey: UNSAVED_KEY, apiKeyFromGateway: 'litellm' });
    expect([both.status, both.body.error.param]).toEqual([400, 'apiKeyFromGateway']);
    expect(both.text).not.toContain(UNSAVED_KEY);
  });

  it('400 for invalid settings, 404 for an unknown provider or gateway, in the error envelope', async () => {
    const missing = await test<Envelope>('/test', { baseUrl: 'http://x/v1' });
    expect([missing.status, missing.body.error.param]).toEqual([400, 'kind']);
    const noGateway = await test<Envelope>('/test', { kind: 'openai', baseUrl: 'http://x/v1', routing: 'gateway' });
    expect([noGateway.status, noGateway.body.error.param]).toEqual([400, 'gatewayId']);
    const badUrl = await test<Envelope>('/test', { kind: 'openai', baseUrl: 'ftp://x', apiKey: UNSAVED_KEY });
    expect([badUrl.status, badUrl.body.error.param]).toEqual([400, 'baseUrl']);
    expect(badUrl.text).not.toContain(UNSAVED_KEY);

    const unknown = await test<Envelope>('/nope/test');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toMatchObject({ code: 'not_found', param: 'id' });
    const unknownGateway = await test<Envelope>('/test', {
      kind: 'openai',
      baseUrl: 'http://x/v1',
      routing: 'auto',
      gatewayId: 'nope',
    });
    expect([unknownGateway.status, unknownGateway.body.error.param]).toEqual([404, 'gatewayId']);
  });

  it('admin only: a user key gets 403', async () => {
    const user = await fetch(`${system.gatewayUrl}/api/v1/ai/admin/users`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({ name: 'probe-user' }),
    }).then((r) => r.json() as Promise<{ id: string }>);
    const key = await fetch(`${system.gatewayUrl}/api/v1/ai/admin/keys`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({ userId: user.id }),
    }).then((r) => r.json() as Promise<{ key: string }>);
    expect((await test<Envelope>('/sim/test', undefined, key.key)).status).toBe(403);
    expect(system.sim.stats().total).toBe(0);
  });

  it('503 with a clear message when the monitor is not running', async () => {
    // In the single topology the first all-in-one instance hosts the monitor: a second one, without it, asks.
    const asking = system.topology === 'single' ? await system.addReplica('api-gateway') : undefined;
    const monitor = system.apps.find((a) => a !== asking && (a.name === 'health-monitor' || a.name === 'all-in-one'));
    expect(monitor).toBeDefined();
    monitor?.child.kill('SIGTERM');
    await monitor?.exited;
    const gatewayUrl = asking === undefined ? system.gatewayUrl : `http://127.0.0.1:${asking.port}`;
    const res = await test<Envelope>('/sim/test', undefined, system.adminKey, gatewayUrl);
    expect(res.status).toBe(503);
    expect(res.body.error).toMatchObject({ code: 'service_unavailable' });
    expect(res.body.error.message).toContain('health monitor is not running');
  });
});
