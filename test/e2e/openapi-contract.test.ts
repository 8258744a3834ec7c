import { parseSse, waitFor } from '@aigw/testing';
import { ResponseContract, type Json, type OpenApiDocument } from '../gateway/docs/contract';
import { TestSystem } from './harness';

/** The request bodies the document declares, by path and method. */
interface RequestBodies {
  paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema?: unknown }> } }>>;
}

/**
 * The served OpenAPI document against what the whole system answers (gateway, router-worker and health-monitor
 * processes, a simulator as the providers, usage written to PostgreSQL by the real writer): every route the document
 * gives a body is called with realistic data, its failures included, and each answer's status, headers and JSON are
 * checked against the document, as a generated client (openapi-generator, orval) would parse them. Figures summed or
 * averaged by PostgreSQL (bigint, numeric) must come out as the numbers the document says, nullable fields must be
 * marked so, and no undocumented field may appear.
 */
describe('OpenAPI document against the running system (e2e contract)', () => {
  const system = new TestSystem({
    workers: 1,
    env: {
      RETRY_MAX: '0',
      USAGE_FLUSH_MS: '100',
      CACHE_ENABLED: 'true',
      MODELS_STATS_REFRESH_S: '1',
      // Probes, so a provider's health history has checks.
      HEALTH_PROBES_ENABLED: 'true',
    },
    catalog: (s) => `providers:
  - id: sim0
    kind: openai
    baseUrl: ${s.sim.url}/v1
    apiKey: sk-sim-secret-0
    timeoutMs: 10000
    models:
      - { name: sim-gpt, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192, capabilities: [chat, streaming] }
      - { name: sim-embed, promptPer1k: 0.0001, completionPer1k: 0, contextWindow: 8192, capabilities: [embeddings] }
  - id: sim0-anthropic
    kind: anthropic
    baseUrl: ${s.sim.url}
    apiKey: sk-sim-secret-a0
    timeoutMs: 10000
    models:
      - { name: sim-claude, promptPer1k: 0.003, completionPer1k: 0.015, contextWindow: 8192, capabilities: [chat, streaming] }
`,
  });
  let contract: ResponseContract;
  let userKey = '';
  let userId = '';

  const send = (method: string, route: string, body?: unknown, key = system.adminKey): Promise<Response> =>
    fetch(`${system.gatewayUrl}${route}`, {
      method,
      headers: system.headers(key),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  /** Sends, expects `status`, and checks the answer against the document's `template` (the path template). */
  const check = async (
    status: number,
    method: string,
    template: string,
    route = template,
    body?: unknown,
    key?: string,
  ) => {
    const res = await send(method.toUpperCase(), route, body, key);
    expect({ route, status: res.status }).toEqual({ route, status });
    if (body !== undefined && status < 400) {
      // What the system took, the document's request schema takes too: a generated client can send it.
      const declared = (contract.doc as unknown as RequestBodies).paths[template]?.[method]?.requestBody;
      const schema = declared?.content['application/json']?.schema;
      expect({ route, requestBody: schema !== undefined }).toEqual({ route, requestBody: true });
      contract.expectValid(`${method} ${template} request`, schema, body);
    }
    return contract.conforms(method, template, res);
  };
  const chat = (content: string, extra: Json = {}): Json => ({
    model: 'sim-gpt',
    messages: [{ role: 'user', content }],
    ...extra,
  });

  beforeAll(async () => {
    await system.start();
    const res = await fetch(`${system.gatewayUrl}/docs-json`);
    contract = new ResponseContract((await res.json()) as OpenApiDocument);
    const user = (await (await send('POST', '/api/v1/ai/admin/users', { name: 'contract-user' })).json()) as Json;
    userId = String(user.id);
    const key = (await (await send('POST', '/api/v1/ai/admin/keys', { userId, name: 'contract' })).json()) as Json;
    userKey = String(key.key);
    // A quota with limits, so the usage report's quota has figures rather than nulls.
    const quota = await send('PUT', `/api/v1/ai/admin/quotas/${userId}`, {
      dailyRequestLimit: 1000,
      monthlySpendLimitUsd: 25.5,
    });
    expect(quota.status).toBe(200);
  }, 120_000);
  afterAll(() => system.stop(), 60_000);

  it('the health routes', async () => {
    for (const route of ['/health/live', '/health/ready']) {
      await contract.conforms('get', route, await fetch(`${system.gatewayUrl}${route}`));
    }
  });

  it('generations through the worker: chat (plain, streamed), messages, embeddings, native generate', async () => {
    const body = await check(200, 'post', '/v1/chat/completions', undefined, chat('hello there'), userKey);
    expect(body.object).toBe('chat.completion');
    // A streamed answer: every event a ChatCompletionChunk, the usage chunk included.
    const stream = await send(
      'POST',
      '/v1/chat/completions',
      chat('one two three', { stream: true, stream_options: { include_usage: true } }),
      userKey,
    );
    const { text } = (await contract.conforms('post', '/v1/chat/completions', stream)) as { text: string };
    const data = parseSse(text).map((e) => e.data);
    expect(data[data.length - 1]).toBe('[DONE]');
    for (const chunk of data.slice(0, -1)) {
      contract.expectValid('chunk', contract.component('ChatCompletionChunk'), JSON.parse(chunk));
    }
    const ask = { model: 'sim-claude', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] };
    await check(200, 'post', '/v1/messages', undefined, ask, userKey);
    await check(
      200,
      'post',
      '/v1/messages/count_tokens',
      undefined,
      { model: 'sim-claude', messages: ask.messages },
      userKey,
    );
    for (const encoding_format of ['float', 'base64']) {
      await check(
        200,
        'post',
        '/v1/embeddings',
        undefined,
        { model: 'sim-embed', input: ['a', 'b'], encoding_format },
        userKey,
      );
    }
    await check(
      200,
      'post',
      '/api/v1/ai/generate',
      undefined,
      { prompt: 'native', options: { maxTokens: 8 } },
      userKey,
    );
    // The same request again comes from the response cache.
    // The same request again comes from the response cache, once the worker filled it.
    await waitFor(
      async () =>
        (
          await check(
            200,
            'post',
            '/api/v1/ai/generate',
            undefined,
            { prompt: 'native', options: { maxTokens: 8 } },
            userKey,
          )
        ).cached === true,
      { timeoutMs: 10_000 },
    );
  });

  it('a generation every provider fails: 502 with the attempts the worker made', async () => {
    system.sim.configure({ failNext: 5, failStatus: [500] });
    try {
      const body = await check(
        502,
        'post',
        '/api/v1/ai/generate',
        undefined,
        { prompt: 'fail', model: 'sim-gpt' },
        userKey,
      );
      expect(body).toMatchObject({ error: { code: 'all_providers_failed' } });
      await check(
        502,
        'post',
        '/v1/chat/completions',
        undefined,
        chat('fail please', { model: 'sim-claude' }),
        userKey,
      );
    } finally {
      system.sim.configure({ failNext: 0 });
    }
  });

  it('a job: accepted, then completed; an unknown job', async () => {
    const accepted = await check(
      202,
      'post',
      '/api/v1/ai/jobs',
      undefined,
      { prompt: 'later', model: 'sim-gpt' },
      userKey,
    );
    const jobId = String(accepted.jobId);
    await waitFor(
      async () =>
        (await check(200, 'get', '/api/v1/ai/jobs/{id}', `/api/v1/ai/jobs/${jobId}`, undefined, userKey)).status ===
        'completed',
      { timeoutMs: 15_000 },
    );
    await check(404, 'get', '/api/v1/ai/jobs/{id}', '/api/v1/ai/jobs/no-such-job', undefined, userKey);
    // A finished job cannot be cancelled; an unknown one is not found.
    const cancel = '/api/v1/ai/jobs/{id}/cancel';
    await check(409, 'post', cancel, `/api/v1/ai/jobs/${jobId}/cancel`, undefined, userKey);
    await check(404, 'post', cancel, '/api/v1/ai/jobs/no-such-job/cancel', undefined, userKey);
  });

  it('preferences: set, used by the preference policy, listed with their usage, removed', async () => {
    const route = '/api/v1/ai/preferences';
    await check(200, 'put', route, route, { context: 'coding', provider: 'sim0', model: 'sim-gpt' }, userKey);
    await check(200, 'put', route, route, { provider: 'sim0-anthropic', model: 'sim-claude' }, userKey);
    // An unknown model is a 400 (README), not the 409 of a known one that is unavailable.
    await check(400, 'put', route, route, { provider: 'sim0', model: 'nope' }, userKey);
    // Workers keep a user's preferences 10 s, but read them at once for a request the response cache keys by them
    // (CACHE_ENABLED here): this one uses the preference just set.
    await check(
      200,
      'post',
      '/api/v1/ai/generate',
      undefined,
      { prompt: 'by preference', context: 'coding', policy: 'preference' },
      userKey,
    );
    await waitFor(
      async () => {
        const list = await check(200, 'get', route, route, undefined, userKey);
        return (list.data as Json[]).some((p) => Number(p.usageCount) > 0);
      },
      { timeoutMs: 15_000 },
    );
    await waitFor(
      async () => {
        const list = await check(200, 'get', route, route, undefined, userKey);
        return (list.data as { last30Days: Json }[]).some((p) => Number(p.last30Days.requests) > 0);
      },
      { timeoutMs: 15_000 },
    );
    await check(200, 'delete', `${route}/{context}`, `${route}/coding`, undefined, userKey);
    await check(200, 'delete', route, route, undefined, userKey);
    await check(404, 'delete', route, route, undefined, userKey);
  });

  it('usage and the model listing once the writer recorded the generations', async () => {
    await waitFor(
      async () => (await system.query('SELECT 1 FROM usage_records WHERE user_id = $1', [userId])).length >= 5,
      { timeoutMs: 20_000 },
    );
    for (const groupBy of ['day', 'model', 'provider']) {
      const report = await check(
        200,
        'get',
        '/api/v1/ai/usage',
        `/api/v1/ai/usage?groupBy=${groupBy}`,
        undefined,
        userKey,
      );
      expect((report.groups as unknown[]).length).toBeGreaterThan(0);
    }
    await check(400, 'get', '/api/v1/ai/usage', '/api/v1/ai/usage?from=yesterday', undefined, userKey);
    // Averages from PostgreSQL once the listing's statistics were refreshed (MODELS_STATS_REFRESH_S).
    await waitFor(
      async () => {
        const listing = await check(200, 'get', '/api/v1/ai/models');
        return (listing.data as Json[]).some((m) => m.avgLatencyMs !== null && m.successRate !== null);
      },
      { timeoutMs: 15_000 },
    );
    await check(200, 'get', '/v1/models');
    for (const id of ['sim0/sim-gpt', 'sim0%2Fsim-gpt', 'sim-gpt']) {
      await check(200, 'get', '/v1/models/{id}', `/v1/models/${id}`);
    }
    await check(404, 'get', '/v1/models/{id}', '/v1/models/nope');
  });

  it('the error envelope: no key, a bad body, a model the key may not use, an unsupported media type', async () => {
    const noKey = await fetch(`${system.gatewayUrl}/api/v1/ai/generate`, { method: 'POST', body: '{}' });
    await contract.conforms('post', '/api/v1/ai/generate', noKey);
    await check(400, 'post', '/v1/chat/completions', undefined, { model: 'sim-gpt', messages: [] }, userKey);
    await check(400, 'post', '/api/v1/ai/generate', undefined, { prompt: 'x', options: { maxTokens: 1.5 } }, userKey);
    await check(
      400,
      'post',
      '/v1/messages',
      undefined,
      { model: 'sim-claude', max_tokens: 'many', messages: [] },
      userKey,
    );
    const restricted = (await (
      await send('POST', '/api/v1/ai/admin/keys', { userId, name: 'restricted', allowedModels: ['sim-claude'] })
    ).json()) as Json;
    await check(403, 'post', '/v1/chat/completions', undefined, chat('not mine'), String(restricted.key));
    await check(404, 'get', '/v1/models/{id}', '/v1/models/sim-gpt', undefined, String(restricted.key));
    const text = await fetch(`${system.gatewayUrl}/api/v1/ai/generate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${userKey}`, 'content-type': 'text/plain' },
      body: 'hi',
    });
    await contract.conforms('post', '/api/v1/ai/generate', text);
  });

  it('the account routes outside the lists: a user and a key created, a key revoked, a quota read, set and reset', async () => {
    const user = await check(201, 'post', '/api/v1/ai/admin/users', undefined, {
      name: 'contract-admin-user',
      tier: 'pro',
    });
    const key = await check(201, 'post', '/api/v1/ai/admin/keys', undefined, {
      userId: user.id,
      name: 'limited',
      allowedModels: ['sim-gpt'],
      rpm: 60,
      expiresAt: '2099-01-01T00:00:00Z',
    });
    expect(String(key.key)).toMatch(/^sk-aigw-/);
    await check(200, 'delete', '/api/v1/ai/admin/keys/{id}', `/api/v1/ai/admin/keys/${String(key.id)}`);
    await check(
      404,
      'delete',
      '/api/v1/ai/admin/keys/{id}',
      '/api/v1/ai/admin/keys/00000000-0000-4000-8000-000000000000',
    );
    const quota = '/api/v1/ai/admin/quotas/{userId}';
    await check(200, 'get', quota, `/api/v1/ai/admin/quotas/${userId}`);
    await check(200, 'put', quota, `/api/v1/ai/admin/quotas/${userId}`, { tier: 'free', dailySpendLimitUsd: 2.5 });
    await check(400, 'put', quota, `/api/v1/ai/admin/quotas/${userId}`, { tier: 'no-such-tier' });
    await check(200, 'post', `${quota}/reset`, `/api/v1/ai/admin/quotas/${userId}/reset`);
  });

  it('the analytics routes over the recorded usage: admin usage, costs (JSON and CSV), gateway metrics', async () => {
    await waitFor(
      async () => (await system.query('SELECT 1 FROM usage_records WHERE user_id = $1', [userId])).length >= 5,
      { timeoutMs: 20_000 },
    );
    for (const groupBy of ['provider', 'model', 'user', 'day', 'hour']) {
      const route = `/api/v1/ai/admin/usage?groupBy=${groupBy}&from=${new Date(Date.now() - 86_400_000).toISOString()}`;
      const report = await check(200, 'get', '/api/v1/ai/admin/usage', route);
      expect((report.groups as unknown[]).length).toBeGreaterThan(0);
    }
    for (const by of ['provider', 'user', 'day']) {
      await check(200, 'get', '/api/v1/ai/admin/costs', `/api/v1/ai/admin/costs?by=${by}`);
    }
    const csv = await check(200, 'get', '/api/v1/ai/admin/costs', '/api/v1/ai/admin/costs?format=csv');
    expect(String(csv.text)).toContain('costUsd');
    await check(400, 'get', '/api/v1/ai/admin/costs', '/api/v1/ai/admin/costs?by=week');
    // Hourly points over the last day, daily ones past 7 days; zeros (and null latencies) where nothing happened.
    await check(200, 'get', '/api/v1/ai/metrics');
    const from = new Date(Date.now() - 10 * 86_400_000).toISOString();
    const daily = await check(200, 'get', '/api/v1/ai/metrics', `/api/v1/ai/metrics?from=${from}`);
    expect((daily.series as Json).interval).toBe('day');
  });

  it("the response cache's stats and invalidation, and a provider's models as the catalog and the monitor see them", async () => {
    const stats = await check(200, 'get', '/api/v1/ai/admin/cache/stats');
    expect(stats.entries).toEqual(expect.any(Number));
    await check(200, 'delete', '/api/v1/ai/admin/cache', '/api/v1/ai/admin/cache?model=sim-gpt');
    await check(200, 'delete', '/api/v1/ai/admin/cache');
    await check(200, 'get', '/api/v1/ai/admin/providers/{id}/models', '/api/v1/ai/admin/providers/sim0/models');
    await check(404, 'get', '/api/v1/ai/admin/providers/{id}/models', '/api/v1/ai/admin/providers/nope/models');
  });

  it('the admin lists: users and keys a page at a time, providers with their health, circuits, usage and quota', async () => {
    const users = await check(200, 'get', '/api/v1/ai/admin/users', '/api/v1/ai/admin/users?limit=1');
    expect(users.nextCursor).toEqual(expect.any(String));
    await check(200, 'get', '/api/v1/ai/admin/users', `/api/v1/ai/admin/users?limit=1000`);
    const keys = await check(200, 'get', '/api/v1/ai/admin/keys', `/api/v1/ai/admin/keys?userId=${userId}`);
    expect((keys.data as unknown[]).length).toBeGreaterThan(0);
    expect(keys.nextCursor).toBeNull();
    // sim0 answered generations with rate-limit headers: its quota (ProviderQuotaDto) is shown once flushed.
    await waitFor(
      async () => {
        const providers = await check(200, 'get', '/api/v1/ai/admin/providers');
        return (providers.data as Json[]).some((p) => p.id === 'sim0' && p.quota !== null);
      },
      { timeoutMs: 10_000 },
    );
  });

  it("a provider's life: templates, created, changed, toggled, its models added, changed and deleted, then deleted", async () => {
    const templates = await check(200, 'get', '/api/v1/ai/admin/providers/templates');
    expect((templates.data as unknown[]).length).toBeGreaterThan(0);
    const base = '/api/v1/ai/admin/providers';
    const created = await check(201, 'post', base, undefined, {
      id: 'contract-p',
      kind: 'openai',
      baseUrl: `${system.sim.url}/v1`,
      apiKey: 'sk-contract-secret',
      models: [{ name: 'm1', promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 4096 }],
    });
    expect(created).toMatchObject({ id: 'contract-p', hasApiKey: true, source: 'admin' });
    const one = `${base}/{providerId}`;
    await check(200, 'patch', one, `${base}/contract-p`, { displayName: 'Contract', healthPath: '/health' });
    await check(200, 'post', `${one}/toggle`, `${base}/contract-p/toggle`, { enabled: false });
    await check(200, 'post', `${one}/toggle`, `${base}/contract-p/toggle`);
    await check(201, 'post', `${one}/models`, `${base}/contract-p/models`, {
      name: 'm2',
      promptPer1k: 0.001,
      completionPer1k: 0.002,
      contextWindow: 4096,
      cache: { enabled: true, ttlS: 60 },
    });
    const model = `${one}/models/{model}`;
    await check(200, 'patch', model, `${base}/contract-p/models/m2`, { quality: 0.5, recommended: true });
    await check(200, 'delete', model, `${base}/contract-p/models/m2`);
    await check(404, 'delete', model, `${base}/contract-p/models/m2`);
    await check(200, 'delete', one, `${base}/contract-p`);
    await check(404, 'delete', one, `${base}/contract-p`);
  });

  it("a provider's health history, its connection test, its circuits reset, and the cache warmed", async () => {
    const base = '/api/v1/ai/admin/providers';
    await waitFor(
      async () => {
        const history = await check(200, 'get', `${base}/{id}/health`, `${base}/sim0/health`);
        return (history.checks as unknown[]).length > 0;
      },
      { timeoutMs: 20_000 },
    );
    await check(404, 'get', `${base}/{id}/health`, `${base}/nope/health`);
    await check(200, 'post', `${base}/{id}/test`, `${base}/sim0/test`);
    // Unsaved settings that fail: the route's diagnosis.
    const refused = await check(200, 'post', `${base}/test`, undefined, {
      kind: 'openai',
      baseUrl: 'http://127.0.0.1:1/v1',
      routing: 'direct',
    });
    expect((refused.routes as { diagnosis?: Json }[])[0].diagnosis).toMatchObject({ code: 'connection_refused' });
    await check(200, 'post', `${base}/{id}/circuit/reset`, `${base}/sim0/circuit/reset`);
    await check(200, 'post', `${base}/{id}/circuit/reset`, `${base}/sim0/circuit/reset?model=sim-gpt`);
    const warm = await check(200, 'post', '/api/v1/ai/admin/cache/warm', undefined, {
      requests: [
        { model: 'sim-gpt', messages: [{ role: 'user', content: 'warm me' }] },
        { model: 'sim-never', prompt: 'nothing' },
      ],
    });
    expect(warm.failed).toBe(1);
  });

  it('gateways: listed, added, read, changed and deleted', async () => {
    const base = '/api/v1/ai/admin/gateways';
    await check(200, 'get', base);
    const created = await check(201, 'post', base, undefined, {
      id: 'contract-gw',
      baseUrl: `${system.sim.url}/v1`,
      apiKey: 'sk-contract-gw',
    });
    expect(created).toMatchObject({ id: 'contract-gw', hasApiKey: true });
    const one = `${base}/{gatewayId}`;
    await check(200, 'get', one, `${base}/contract-gw`);
    await check(200, 'patch', one, `${base}/contract-gw`, { timeoutMs: 120000 });
    const list = await check(200, 'get', base);
    expect((list.data as Json[]).map((g) => g.id)).toContain('contract-gw');
    await check(200, 'delete', one, `${base}/contract-gw`);
    await check(404, 'get', one, `${base}/contract-gw`);
  });

  it('the configuration exported (YAML, JSON) and imported back (dry run and applied); /metrics as Prometheus text', async () => {
    const route = '/api/v1/ai/admin/config/export';
    const yaml = await check(200, 'get', route);
    expect(String(yaml.text)).toContain('providers:');
    const json = await check(200, 'get', route, `${route}?format=json`);
    expect((json.providers as Json[]).length).toBeGreaterThan(0);
    const imported = '/api/v1/ai/admin/config/import';
    const dry = await check(200, 'post', imported, `${imported}?dryRun=true`, {
      ...json,
      providers: (json.providers as Json[]).map((p) => (p.id === 'sim0' ? { ...p, timeoutMs: 20000 } : p)),
    });
    expect(dry).toMatchObject({ dryRun: true, applied: false });
    await check(200, 'post', imported, undefined, json);
    const metrics = await fetch(`${system.gatewayUrl}/metrics`);
    const { text } = (await contract.conforms('get', '/metrics', metrics)) as { text: string };
    expect(text).toContain('# TYPE');
  });
});
