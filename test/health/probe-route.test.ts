import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AdapterRegistry,
  HttpPool,
  probeProviderOf,
  probeRoute,
  type ProbeProvider,
  type RouteProbe,
} from '@aigw/adapters';
import type { GatewaySpec, ModelSpec } from '@aigw/core';
import { freePort, ProviderSimulator } from '@aigw/testing';
import { FakeUpstream, sendJson } from '../adapters/support/fake-upstream';

/** Every diagnosis below comes from a real failure on loopback (or a name that can never resolve). */
describe('probeRoute', () => {
  const pool = new HttpPool();
  const adapters = new AdapterRegistry(pool);
  const sim = new ProviderSimulator({ models: ['sim-gpt', 'glm-4.6'] }, { name: 'probe-sim' });
  let up: FakeUpstream;

  const provider = (over: Partial<ProbeProvider> = {}): ProbeProvider => ({
    id: 'p1',
    kind: 'openai',
    baseUrl: `${sim.url}/v1`,
    apiKey: 'sk-probe-secret-0123456789',
    models: ['sim-gpt'],
    ...over,
  });
  const direct = (p: ProbeProvider, timeoutMs = 2000): Promise<RouteProbe> =>
    probeRoute({ adapters, provider: p, route: 'direct', timeoutMs });

  beforeAll(async () => {
    await sim.start();
    up = await FakeUpstream.start();
  });
  afterAll(async () => {
    await pool.destroy();
    await up.close();
    await sim.stop();
  });
  beforeEach(() => sim.reset());

  it('lists the models on a working direct route, without a completion', async () => {
    const r = await direct(provider());
    expect(r).toMatchObject({ route: 'direct', ok: true, status: 200, models: ['sim-gpt', 'glm-4.6'] });
    expect(r.diagnosis).toBeUndefined();
    expect(sim.stats().byRoute).toEqual({ 'GET /v1/models': 1 });
  });

  it("probes an Azure OpenAI deployment URL out of the box: the resource's model list, with api-key and api-version", async () => {
    // Azure answers nothing without its `api-key` header, and a deployment URL serves no model list (404).
    up.handler = (req, res) => {
      if (req.headers['api-key'] !== 'azure-key-0123456789abcdef') {
        sendJson(res, 401, { error: { code: '401', message: 'Access denied due to invalid subscription key.' } });
      } else if (req.url === '/openai/models?api-version=2024-10-21') {
        sendJson(res, 200, { data: [{ id: 'gpt-4o-2024-08-06', object: 'model' }] });
      } else {
        sendJson(res, 404, { error: { code: '404', message: 'Resource not found' } });
      }
    };
    const azure = provider({
      id: 'azure',
      baseUrl: `${up.origin}/openai/deployments/gpt-4o?api-version=2024-10-21`,
      apiKey: 'azure-key-0123456789abcdef',
      models: ['gpt-4o'],
    });
    const r = await direct(azure);
    expect(r).toMatchObject({ route: 'direct', ok: true, status: 200 });
    // Base models, not deployments: no verdict on the catalog's models.
    expect(r.unservedModels).toBeUndefined();
    expect(r.modelsChecked).toBeUndefined();
  });

  it.each([
    ['anthropic', '', 'x-api-key'],
    ['gemini', '/v1beta', 'x-goog-api-key'],
    ['ollama', '', 'authorization'],
  ] as const)(
    'a %s provider with a healthPath is probed there (with its key), as the catalog says, not on its model list',
    async (kind, prefix, keyHeader) => {
      // An Anthropic-compatible (or Gemini-, Ollama-fronting) server without a model list, with a health endpoint.
      up.handler = (req, res) =>
        req.url === '/healthz' ? sendJson(res, 200, { status: 'ok' }) : sendJson(res, 404, { error: 'no such path' });
      const before = up.requests.length;
      const r = await direct(
        provider({ id: `hp-${kind}`, kind, baseUrl: `${up.origin}${prefix}`, healthPath: '/healthz', models: ['m'] }),
      );
      expect(r).toMatchObject({ ok: true, status: 200 });
      const seen = up.requests.slice(before);
      expect(seen.map((q) => q.url)).toEqual(['/healthz']);
      expect(String(seen[0].headers[keyHeader])).toContain('sk-probe-secret-0123456789');
    },
  );

  it('sends a one-token completion only when the provider opts in', async () => {
    const r = await direct(provider({ probe: 'completion' }));
    expect(r).toMatchObject({ ok: true, status: 200 });
    const body = sim.lastRequests(1)[0].body as { max_tokens?: number; model?: string };
    expect(sim.stats().byRoute).toEqual({ 'POST /v1/chat/completions': 1 });
    expect(body).toMatchObject({ model: 'sim-gpt', max_tokens: 1 });
  });

  it("tells Ollama the probed model's context window, as generations do (a different num_ctx reloads the model)", async () => {
    const model = (name: string, contextWindow: number, enabled: boolean): ModelSpec => ({
      name,
      contextWindow,
      enabled,
      capabilities: ['chat'],
      promptPer1k: 0,
      completionPer1k: 0,
    });
    const ollama = probeProviderOf({
      id: 'local',
      kind: 'ollama',
      baseUrl: sim.url,
      enabled: true,
      timeoutMs: 2000,
      maxConnections: 2,
      routing: 'direct',
      probe: 'completion',
      // The first enabled model is the one probed, with its own window.
      models: [model('glm-4.6', 4096, false), model('sim-gpt', 32768, true)],
    });
    const r = await direct(ollama);
    expect(r).toMatchObject({ ok: true, status: 200 });
    expect(sim.stats().byRoute).toEqual({ 'POST /api/chat': 1 });
    expect(sim.lastRequests(1)[0].body).toMatchObject({
      model: 'sim-gpt',
      options: { num_predict: 1, num_ctx: 32768 },
    });
  });

  it('connection_refused: nothing listens on the port', async () => {
    const port = await freePort();
    const r = await direct(provider({ baseUrl: `http://127.0.0.1:${port}/v1` }));
    expect(r).toMatchObject({ ok: false, diagnosis: { code: 'connection_refused' } });
    expect(r.status).toBeUndefined();
    expect(r.diagnosis?.message).toContain(`127.0.0.1:${port}`);
  });

  it('not_found: a base URL without /v1 says how an OpenAI-compatible URL ends', async () => {
    const r = await direct(provider({ baseUrl: sim.url }));
    expect(r).toMatchObject({ ok: false, status: 404, diagnosis: { code: 'not_found' } });
    expect(r.diagnosis?.suggestion).toContain('/v1');
  });

  it('unauthorized: the server requires a key and none is set (401), or refuses it (403)', async () => {
    sim.configure({ requireAuth: true });
    try {
      const r = await direct(provider({ apiKey: undefined }));
      expect(r).toMatchObject({ ok: false, status: 401, diagnosis: { code: 'unauthorized' } });
      expect(r.diagnosis?.suggestion).toContain('apiKey');
    } finally {
      sim.configure({ requireAuth: false });
    }
    const key = 'sk-echoed-back-abcdef0123456789';
    up.handler = (req, res) =>
      sendJson(res, 403, { error: { message: `key ${String(req.headers.authorization)} is not allowed here` } });
    const r = await direct(provider({ baseUrl: `${up.origin}/v1`, apiKey: key }));
    expect(r).toMatchObject({ ok: false, status: 403, diagnosis: { code: 'unauthorized' } });
    expect(JSON.stringify(r)).not.toContain(key);
  });

  it('rate_limited (429) and server_error (5xx)', async () => {
    up.handler = (_req, res) => sendJson(res, 429, { error: { message: 'slow down' } }, { 'retry-after': '3' });
    expect(await direct(provider({ baseUrl: `${up.origin}/v1` }))).toMatchObject({
      ok: false,
      status: 429,
      diagnosis: { code: 'rate_limited' },
    });
    up.handler = (_req, res) => sendJson(res, 502, { error: { message: 'bad gateway' } });
    expect(await direct(provider({ baseUrl: `${up.origin}/v1` }))).toMatchObject({
      ok: false,
      status: 502,
      diagnosis: { code: 'server_error' },
    });
  });

  it('timeout: a server that accepts and never answers', async () => {
    up.handler = () => undefined; // holds the request open until the client gives up
    const r = await direct(provider({ baseUrl: `${up.origin}/v1` }), 300);
    expect(r).toMatchObject({ ok: false, diagnosis: { code: 'timeout' } });
    expect(r.diagnosis?.message).toContain('300 ms');
  });

  it('bad_response: an HTML page, and JSON of the wrong shape', async () => {
    up.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>Welcome to nginx!</body></html>');
    };
    expect(await direct(provider({ baseUrl: `${up.origin}/v1` }))).toMatchObject({
      ok: false,
      diagnosis: { code: 'bad_response' },
    });
    up.handler = (_req, res) => sendJson(res, 200, { models: ['a'] });
    const r = await direct(provider({ baseUrl: `${up.origin}/v1` }));
    expect(r).toMatchObject({ ok: false, status: 200, diagnosis: { code: 'bad_response' } });
  });

  it('tls_error: https:// to a plain HTTP port', async () => {
    const r = await direct(provider({ baseUrl: `https://127.0.0.1:${sim.port}/v1` }));
    expect(r).toMatchObject({ ok: false, diagnosis: { code: 'tls_error' } });
    expect(r.diagnosis?.suggestion).toContain('http://');
  });

  it('tls_error: a self-signed certificate', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'probe-tls-'));
    let server: HttpsServer | undefined;
    try {
      execFileSync('openssl', [
        'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
        '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
      ], { stdio: 'ignore' }); // prettier-ignore
      const tls = { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
      server = createHttpsServer(tls, (_req, res) => sendJson(res, 200, { data: [] }));
      const s = server;
      await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
      const { port } = s.address() as AddressInfo;
      const r = await direct(provider({ baseUrl: `https://127.0.0.1:${port}/v1` }));
      expect(r).toMatchObject({ ok: false, diagnosis: { code: 'tls_error' } });
      expect(r.diagnosis?.suggestion).toContain('certificate');
    } finally {
      server?.closeAllConnections();
      await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())));
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('dns_failure: a .invalid host never resolves', async () => {
    const r = await direct(provider({ baseUrl: 'http://nonexistent.invalid/v1' }), 5000);
    expect(r).toMatchObject({ ok: false, diagnosis: { code: 'dns_failure' } });
    expect(r.diagnosis?.message).toContain('nonexistent.invalid');
  });

  it('never shows credentials or query keys of the base URL', async () => {
    const port = await freePort();
    const r = await direct(provider({ baseUrl: `http://user:hunter2pass@127.0.0.1:${port}/v1?key=AIzaSECRETSECRET` }));
    expect(r.diagnosis?.code).toBe('connection_refused');
    const text = JSON.stringify(r);
    expect(text).not.toContain('hunter2pass');
    expect(text).not.toContain('AIzaSECRETSECRET');
  });

  describe('a model the provider does not serve', () => {
    const tags = (names: string[]) => ({ models: names.map((name) => ({ name, model: name })) });

    it('Ollama lists a configured model as not pulled: the route works, the diagnosis names the model', async () => {
      up.handler = (req, res) =>
        req.url === '/api/tags' ? sendJson(res, 200, tags(['llama3.2:latest'])) : sendJson(res, 404, {});
      const r = await direct(
        provider({ id: 'local', kind: 'ollama', baseUrl: up.origin, models: ['qwen3:8b', 'llama3.2'] }),
      );
      // The provider answers (llama3.2 is llama3.2:latest): it is not down, one deployment is unavailable.
      expect(r).toMatchObject({ ok: true, status: 200, unservedModels: ['qwen3:8b'] });
      expect(r.diagnosis?.code).toBe('not_found');
      expect(r.diagnosis?.message).toContain('model qwen3:8b not served by provider local');
      expect(r.diagnosis?.suggestion).toContain('ollama pull qwen3:8b');
    });

    it("Ollama's names are read as Ollama reads them: a registry's port is no tag, the default registry and namespace are implied", async () => {
      up.handler = (req, res) =>
        req.url === '/api/tags'
          ? sendJson(res, 200, tags(['localhost:5000/library/mymodel:latest', 'llama3.2:latest']))
          : sendJson(res, 404, {});
      const models = [
        // Pulled from a private registry: Ollama lists it with its host and `:latest`.
        'localhost:5000/library/mymodel',
        // The long forms of `llama3.2`: Ollama lists the shortest.
        'registry.ollama.ai/library/llama3.2',
        'library/llama3.2:latest',
        'qwen3:8b',
      ];
      const r = await direct(provider({ id: 'local', kind: 'ollama', baseUrl: up.origin, models }));
      expect(r).toMatchObject({ ok: true, modelsChecked: true, unservedModels: ['qwen3:8b'] });
    });

    it("Ollama finds a model whatever the case of its name (it folds each part to a pulled model's): not unserved", async () => {
      up.handler = (req, res) =>
        req.url === '/api/tags'
          ? sendJson(res, 200, tags(['qwen3:8b-q4_K_M', 'hf.co/Org/Model-GGUF:Q8_0']))
          : sendJson(res, 404, {});
      const models = ['Qwen3:8B-Q4_K_M', 'hf.co/org/model-gguf:q8_0', 'qwen3:14b'];
      const r = await direct(provider({ id: 'local', kind: 'ollama', baseUrl: up.origin, models }));
      expect(r).toMatchObject({ ok: true, modelsChecked: true, unservedModels: ['qwen3:14b'] });
    });

    it('an OpenAI-compatible server compares names as they are: another case is another model', async () => {
      up.handler = (req, res) =>
        req.url === '/v1/models'
          ? sendJson(res, 200, { object: 'list', data: [{ id: 'Qwen2.5-Coder-32B-Instruct' }] })
          : sendJson(res, 404, {});
      const models = ['Qwen2.5-Coder-32B-Instruct', 'qwen2.5-coder-32b-instruct'];
      const r = await direct(provider({ id: 'sn', baseUrl: `${up.origin}/v1`, models }));
      expect(r).toMatchObject({ ok: true, unservedModels: ['qwen2.5-coder-32b-instruct'] });
    });

    it("a listed model with a routing suffix (HuggingFace's :provider or :fastest, OpenRouter's :nitro) is served", async () => {
      up.handler = (req, res) =>
        req.url === '/v1/models'
          ? sendJson(res, 200, {
              object: 'list',
              data: ['openai/gpt-oss-120b', 'meta-llama/Llama-3.1-8B-Instruct', 'openai/gpt-4o'].map((id) => ({ id })),
            })
          : sendJson(res, 404, {});
      const models = [
        'openai/gpt-oss-120b:fastest',
        'meta-llama/Llama-3.1-8B-Instruct:cerebras',
        'openai/gpt-4o:nitro',
        'qwen/unlisted:novita',
      ];
      const r = await direct(provider({ id: 'hf', baseUrl: `${up.origin}/v1`, models }));
      expect(r).toMatchObject({ ok: true, modelsChecked: true, unservedModels: ['qwen/unlisted:novita'] });
    });

    it('an OpenAI-compatible server without the configured model names it; a listed one says nothing', async () => {
      const r = await direct(provider({ models: ['sim-gpt', 'gpt-typo'] }));
      expect(r).toMatchObject({ ok: true, unservedModels: ['gpt-typo'] });
      expect(r.diagnosis?.message).toContain('model gpt-typo not served by provider p1');
      expect(r.diagnosis?.suggestion).toContain('check the name');
      const fine = await direct(provider({ models: ['sim-gpt', 'glm-4.6'] }));
      expect(fine.unservedModels).toBeUndefined();
      expect(fine.diagnosis).toBeUndefined();
    });

    it('a route that read the list gives a verdict (none missing too); one that could not, none', async () => {
      expect(await direct(provider({ models: ['sim-gpt'] }))).toMatchObject({ ok: true, modelsChecked: true });
      const port = await freePort();
      const refused = await direct(provider({ baseUrl: `http://127.0.0.1:${port}/v1` }));
      expect(refused.modelsChecked).toBeUndefined();
      const completion = await direct(provider({ probe: 'completion' }));
      expect(completion).toMatchObject({ ok: true });
      expect(completion.modelsChecked).toBeUndefined();
    });

    it('only the models routed to (enabled) count', async () => {
      const r = await direct(provider({ models: ['sim-gpt', 'old-model'], routedModels: ['sim-gpt'] }));
      expect(r.unservedModels).toBeUndefined();
      expect(r.diagnosis).toBeUndefined();
    });

    it("a completion probe's 404 naming the model says to pull it, not to check the base URL", async () => {
      up.handler = (_req, res) => sendJson(res, 404, { error: 'model "qwen3:8b" not found, try pulling it first' });
      const r = await direct(
        provider({ id: 'local', kind: 'ollama', baseUrl: up.origin, models: ['qwen3:8b'], probe: 'completion' }),
      );
      expect(r).toMatchObject({ ok: false, status: 404, diagnosis: { code: 'not_found' } });
      expect(r.diagnosis?.message).toContain('model qwen3:8b not served by provider local');
      expect(r.diagnosis?.message).toContain('try pulling it first');
      expect(r.diagnosis?.suggestion).toContain('ollama pull qwen3:8b');
      expect(r.diagnosis?.suggestion).not.toContain('base URL');
    });

    it("OpenAI's model_not_found 404 on a completion probe names the model too", async () => {
      up.handler = (_req, res) =>
        sendJson(res, 404, {
          error: {
            message: 'The model `gpt-typo` does not exist',
            type: 'invalid_request_error',
            code: 'model_not_found',
          },
        });
      const r = await direct(provider({ baseUrl: `${up.origin}/v1`, models: ['gpt-typo'], probe: 'completion' }));
      expect(r).toMatchObject({ ok: false, status: 404, diagnosis: { code: 'not_found' } });
      expect(r.diagnosis?.message).toContain('model gpt-typo not served by provider p1');
      expect(r.diagnosis?.suggestion).not.toContain('base URL');
    });

    it("a completion probe's bare 404 (a wrong path) still says to check the base URL", async () => {
      up.handler = (_req, res) => {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('404 page not found');
      };
      const r = await direct(provider({ baseUrl: `${up.origin}/v1`, models: ['gpt-x'], probe: 'completion' }));
      expect(r).toMatchObject({ ok: false, status: 404, diagnosis: { code: 'not_found' } });
      expect(r.diagnosis?.suggestion).toContain('base URL');
    });
  });

  describe('through the gateway', () => {
    const gateway = (): GatewaySpec => ({
      id: 'litellm',
      baseUrl: `${sim.url}/v1`,
      apiKey: 'sk-master',
      timeoutMs: 1000,
    });

    it('asks the proxy for its model list with the gateway key, not the provider', async () => {
      const p = provider({ baseUrl: 'http://nonexistent.invalid/v1', models: ['glm-4.6'] });
      const r = await probeRoute({ adapters, provider: p, route: 'gateway', gateway: gateway(), timeoutMs: 2000 });
      expect(r).toMatchObject({ route: 'gateway', ok: true, status: 200 });
      expect(r.models).toContain('glm-4.6');
      expect(sim.stats()).toMatchObject({ byRoute: { 'GET /v1/models': 1 }, authorized: 1 });
    });

    it('not_found when the proxy serves none of the provider models', async () => {
      const p = provider({ models: ['glm-5-unknown'] });
      const r = await probeRoute({ adapters, provider: p, route: 'gateway', gateway: gateway(), timeoutMs: 2000 });
      expect(r).toMatchObject({ ok: false, diagnosis: { code: 'not_found' } });
      expect(r.diagnosis?.message).toContain('glm-5-unknown');
    });

    it('names the routed models the proxy lists not, as a verdict the monitor records', async () => {
      const p = provider({ models: ['glm-4.6', 'glm-5-unknown'] });
      const r = await probeRoute({ adapters, provider: p, route: 'gateway', gateway: gateway(), timeoutMs: 2000 });
      expect(r).toMatchObject({ ok: true, modelsChecked: true, unservedModels: ['glm-5-unknown'] });
      const refused = { ...gateway(), baseUrl: `http://127.0.0.1:${await freePort()}/v1` };
      const none = await probeRoute({ adapters, provider: p, route: 'gateway', gateway: refused, timeoutMs: 2000 });
      expect(none).toMatchObject({ ok: false });
      expect(none.modelsChecked).toBeUndefined();
    });

    it('a refused gateway names the gateway, not the provider', async () => {
      const port = await freePort();
      const g = { ...gateway(), baseUrl: `http://127.0.0.1:${port}/v1` };
      const r = await probeRoute({ adapters, provider: provider(), route: 'gateway', gateway: g, timeoutMs: 2000 });
      expect(r).toMatchObject({ route: 'gateway', ok: false, diagnosis: { code: 'connection_refused' } });
      expect(r.diagnosis?.suggestion).toContain("gateway's baseUrl");
    });
  });
});
