import { DEFAULT_SIMULATOR_CONFIG, ProviderSimulator, waitFor } from '@aigw/testing';
import { chat, json, message, postJson } from './support';

describe('simulator stats, auth and control endpoints', () => {
  const sim = new ProviderSimulator();
  let chatUrl: string;

  beforeAll(async () => {
    await sim.start();
    chatUrl = `${sim.url}/v1/chat/completions`;
  });
  afterAll(() => sim.stop());
  beforeEach(() => {
    sim.configure({ ...DEFAULT_SIMULATOR_CONFIG });
    sim.reset();
  });

  it('counts requests by route, outcome, stream and auth; control routes are not counted', async () => {
    await postJson(chatUrl, chat(), { authorization: 'Bearer sk-one' });
    await postJson(chatUrl, chat({ stream: true }));
    await postJson(`${sim.url}/v1/messages`, message({ stream: true }), { 'x-api-key': 'sk-two' });
    await postJson(chatUrl, { model: 'm' });
    await fetch(`${sim.url}/health`);
    await fetch(`${sim.url}/_sim/stats`);
    expect(sim.stats()).toMatchObject({
      total: 4,
      byRoute: { 'POST /v1/chat/completions': 3, 'POST /v1/messages': 1 },
      byStatus: { '200': 3, '400': 1 },
      streams: 2,
      authorized: 2,
      inFlight: 0,
      cancelled: 0,
    });
    expect(sim.stats().connections).toBeGreaterThanOrEqual(1);
  });

  it('tracks concurrent requests in flight', async () => {
    // Long enough that all five are in flight together even when the host is busy (150 ms was not, in CI).
    sim.configure({ latencyMs: 2000 });
    const pending = Promise.all(Array.from({ length: 5 }, () => postJson(chatUrl, chat())));
    await waitFor(() => sim.stats().inFlight === 5, { timeoutMs: 10_000 });
    await pending;
    expect(sim.stats()).toMatchObject({ inFlight: 0, maxInFlight: 5 });
  });

  it('waits latencyMs before answering and chunkDelayMs between chunks', async () => {
    sim.configure({ latencyMs: 120 });
    let t0 = performance.now();
    await postJson(chatUrl, chat());
    expect(performance.now() - t0).toBeGreaterThanOrEqual(110);
    sim.configure({ latencyMs: 0, chunkDelayMs: 30, completionTokens: 5 });
    t0 = performance.now();
    await postJson(chatUrl, chat({ stream: true }));
    expect(performance.now() - t0).toBeGreaterThanOrEqual(4 * 30 - 10);
  });

  it('counts a client that leaves mid-stream as cancelled and stops writing to it', async () => {
    sim.configure({ chunkDelayMs: 20, completionTokens: 200 });
    const ctrl = new AbortController();
    const res = await fetch(chatUrl, {
      method: 'POST',
      body: JSON.stringify(chat({ stream: true })),
      signal: ctrl.signal,
    });
    const reader = res.body!.getReader();
    await reader.read();
    ctrl.abort();
    await waitFor(() => sim.stats().cancelled === 1, { timeoutMs: 2000 });
    expect(sim.stats()).toMatchObject({ inFlight: 0, byStatus: { cancelled: 1 }, streams: 1 });
  });

  it('counts a client that gives up during latency as cancelled', async () => {
    sim.configure({ latencyMs: 400 });
    await expect(
      fetch(chatUrl, { method: 'POST', body: JSON.stringify(chat()), signal: AbortSignal.timeout(50) }),
    ).rejects.toThrow();
    await waitFor(() => sim.stats().cancelled === 1, { timeoutMs: 2000 });
  });

  it('records the last requests without header values', async () => {
    await postJson(chatUrl, chat({ user: 'first' }), { authorization: 'Bearer sk-very-secret' });
    await postJson(`${sim.url}/v1/messages`, message());
    await fetch(`${sim.url}/v1/models`);
    const last = sim.lastRequests(2);
    expect(last.map((r) => r.route)).toEqual(['POST /v1/messages', 'GET /v1/models']);
    const all = sim.lastRequests();
    expect(all[0]).toMatchObject({ route: 'POST /v1/chat/completions', hadAuth: true, body: { user: 'first' } });
    expect(all[1].hadAuth).toBe(false);
    expect(typeof all[0].at).toBe('number');
    expect(JSON.stringify(all)).not.toContain('sk-very-secret');
  });

  it('requireAuth: 401 in each provider shape unless Authorization or x-api-key is present', async () => {
    sim.configure({ requireAuth: true });
    const openai = await postJson(chatUrl, chat());
    expect(openai.status).toBe(401);
    expect(json(openai)).toMatchObject({ error: { type: 'invalid_request_error', code: 'invalid_api_key' } });
    const anthropic = await postJson(`${sim.url}/v1/messages`, message());
    expect(anthropic.status).toBe(401);
    expect(json(anthropic)).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });
    expect((await fetch(`${sim.url}/v1/models`)).status).toBe(401);

    expect((await postJson(chatUrl, chat(), { authorization: 'Bearer sk-x' })).status).toBe(200);
    expect((await postJson(`${sim.url}/v1/messages`, message(), { 'x-api-key': 'sk-x' })).status).toBe(200);
    expect(sim.stats().byStatus).toEqual({ '401': 3, '200': 2 });
  });

  it('GET /health says it is a simulator', async () => {
    const res = await fetch(`${sim.url}/health`);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-simulator')).toBe('true');
    expect(await res.json()).toEqual({ status: 'ok', simulator: true, name: 'sim' });
  });

  it('POST /_sim/config patches the live config and rejects bad values by name', async () => {
    const ok = await postJson(`${sim.url}/_sim/config`, { completionTokens: 2, failStatus: [429] });
    expect(ok.status).toBe(200);
    expect(json<{ config: { completionTokens: number } }>(ok).config.completionTokens).toBe(2);
    expect(sim.config()).toMatchObject({ completionTokens: 2, failStatus: [429] });
    const answer = json<{ usage: { completion_tokens: number } }>(await postJson(chatUrl, chat()));
    expect(answer.usage.completion_tokens).toBe(2);

    const bad = await postJson(`${sim.url}/_sim/config`, { failRate: 3 });
    expect(bad.status).toBe(400);
    expect(json(bad)).toMatchObject({ error: { param: 'failRate', message: expect.stringContaining('failRate') } });
    const unknown = await postJson(`${sim.url}/_sim/config`, { fail_rate: 0.5 });
    expect(json(unknown)).toMatchObject({ error: { param: 'fail_rate' } });
    const notJson = await postJson(`${sim.url}/_sim/config`, 'nope');
    expect(notJson.status).toBe(400);
    expect(sim.config().failRate).toBe(0);
  });

  it('GET /_sim/stats and POST /_sim/reset', async () => {
    await postJson(chatUrl, chat());
    const stats = (await (await fetch(`${sim.url}/_sim/stats`)).json()) as {
      total: number;
      inFlightMs: number[];
      config: { models: string[] };
    };
    expect(stats.total).toBe(1);
    // The chat request was in flight alone for a while, and the simulator idle before and after it.
    expect(stats.inFlightMs).toHaveLength(2);
    expect(stats.inFlightMs[1]).toBeGreaterThan(0);
    expect(stats.config.models).toEqual(DEFAULT_SIMULATOR_CONFIG.models);
    sim.configure({ latencyMs: 3 });
    const reset = await postJson(`${sim.url}/_sim/reset`, '');
    expect(reset.status).toBe(200);
    expect(sim.stats().total).toBe(0);
    expect(sim.lastRequests()).toEqual([]);
    expect(sim.config().latencyMs).toBe(3);
  });

  it('answers 404 on unknown control routes', async () => {
    expect((await fetch(`${sim.url}/_sim/nothing`)).status).toBe(404);
  });

  it('configure() rejects invalid settings', () => {
    expect(() => sim.configure({ failMode: 'boom' as never })).toThrow(/failMode/);
  });

  it("sends the configured rate limits in each wire's own dialect, on answers, streams and errors", async () => {
    const res = await fetch(`${sim.url}/_sim/config`, {
      method: 'POST',
      body: JSON.stringify({
        rateLimit: {
          requests: { limit: 60, remaining: 12, resetMs: 360_000 },
          tokens: { limit: 90_000, remaining: 80_000, resetMs: 20 },
        },
      }),
    });
    expect(res.status).toBe(200);
    const openai = await postJson(chatUrl, chat({ stream: true }));
    expect(Object.fromEntries([...openai.headers].filter(([k]) => k.startsWith('x-ratelimit-')))).toEqual({
      'x-ratelimit-limit-requests': '60',
      'x-ratelimit-remaining-requests': '12',
      'x-ratelimit-reset-requests': '6m0s',
      'x-ratelimit-limit-tokens': '90000',
      'x-ratelimit-remaining-tokens': '80000',
      'x-ratelimit-reset-tokens': '20ms',
    });
    const before = Date.now();
    const anthropic = await postJson(`${sim.url}/v1/messages`, message());
    expect(anthropic.headers.get('anthropic-ratelimit-requests-remaining')).toBe('12');
    expect(anthropic.headers.get('anthropic-ratelimit-tokens-limit')).toBe('90000');
    const reset = anthropic.headers.get('anthropic-ratelimit-requests-reset') ?? '';
    expect(reset).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(Date.parse(reset) - before).toBeGreaterThanOrEqual(359_000);
    expect(anthropic.headers.get('x-ratelimit-remaining-requests')).toBeNull();

    sim.configure({ failNext: 1, failStatus: [429], retryAfterS: 3 });
    const limited = await postJson(chatUrl, chat());
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('3');
    expect(limited.headers.get('x-ratelimit-remaining-requests')).toBe('12');

    sim.configure({ rateLimit: { requests: null, tokens: { limit: 5, remaining: 0, resetMs: 1500 } } });
    const tokensOnly = await postJson(chatUrl, chat());
    expect(tokensOnly.headers.get('x-ratelimit-limit-requests')).toBeNull();
    expect(tokensOnly.headers.get('x-ratelimit-reset-tokens')).toBe('1.5s');
    sim.configure({ rateLimit: null });
    expect([...(await postJson(chatUrl, chat())).headers.keys()].filter((k) => k.includes('ratelimit'))).toEqual([]);
  });
});

describe('simulator lifecycle', () => {
  it('stop() closes hung and idle connections and can be called twice', async () => {
    const sim = new ProviderSimulator({ failNext: 1, failMode: 'hang' }, { name: 'lifecycle' });
    await sim.start();
    expect(sim.url).toBe(`http://127.0.0.1:${sim.port}`);
    const hung = postJson(`${sim.url}/v1/chat/completions`, chat());
    await waitFor(() => sim.stats().inFlight === 1, { timeoutMs: 2000 });
    await sim.stop();
    await expect(hung).rejects.toThrow();
    await waitFor(() => sim.stats().byStatus.dropped === 1, { timeoutMs: 2000 });
    expect(sim.stats()).toMatchObject({ cancelled: 0, inFlight: 0 });
    await sim.stop();
    expect(() => sim.url).toThrow(/not started/);
  });

  it('refuses to start twice and reports a port in use', async () => {
    const a = new ProviderSimulator();
    await a.start();
    try {
      await expect(a.start()).rejects.toThrow(/already started/);
      const b = new ProviderSimulator();
      await expect(b.start(a.port)).rejects.toThrow(/EADDRINUSE/);
    } finally {
      await a.stop();
    }
  });

  it('rejects an invalid initial config', () => {
    expect(() => new ProviderSimulator({ failRate: -1 })).toThrow(/failRate/);
  });
});
