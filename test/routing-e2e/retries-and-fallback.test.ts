import { waitFor } from '@aigw/testing';
import { callsTo, catalogYaml, chat, chatStream, generate, routingSystem } from './support';

const REQUEST_TIMEOUT_MS = 4000;

/**
 * Retries, the fallback chain and streaming fallback through the gateway, two workers, two simulators:
 * A (cheaper, lower quality) and B. The breaker threshold is out of reach so it never interferes here.
 */
describe('retries and fallback (e2e)', () => {
  const system = routingSystem({
    simulators: 2,
    env: {
      ROUTING_DEFAULT_POLICY: 'cost',
      RETRY_MAX: '2',
      RETRY_BASE_MS: '50',
      RETRY_MIN_CALL_MS: '500',
      CB_FAILURE_THRESHOLD: '1000',
      CB_MIN_VOLUME: '1000',
    },
    appEnv: { 'api-gateway': { REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS) } },
    catalog: (s) =>
      catalogYaml([
        { id: 'pa', baseUrl: `${s.sims[0].url}/v1`, models: [{ name: 'shared', promptPer1k: 0.001, quality: 0.4 }] },
        { id: 'pb', baseUrl: `${s.sims[1].url}/v1`, models: [{ name: 'shared', promptPer1k: 0.002, quality: 0.9 }] },
      ]),
  });
  const simA = () => system.sims[0];
  const simB = () => system.sims[1];

  beforeAll(async () => {
    await system.start();
  }, 90_000);

  afterAll(() => system.stop(), 30_000);

  beforeEach(async () => {
    // A 429, 503 or 529 with Retry-After sets its deployment aside for that wait on every worker (a cooldown kept in
    // its circuit, test/routing-e2e/cooldown.test.ts): each test starts with none left by the one before.
    for (const provider of ['pa', 'pb']) {
      const res = await fetch(`${system.gatewayUrl}/api/v1/ai/admin/providers/${provider}/circuit/reset`, {
        method: 'POST',
        headers: system.headers(),
      });
      expect(res.status).toBe(200);
    }
    for (const sim of system.sims) {
      sim.configure({
        failRate: 0,
        failNext: 0,
        failMode: 'status',
        failStatus: [503],
        retryAfterS: null,
        latencyMs: 0,
        failAfterChunks: 3,
        completionTokens: 8,
        chunkDelayMs: 0,
        echo: true,
      });
      sim.reset();
    }
  });

  it('retries a 5xx on the same provider and reports the retries on success', async () => {
    simA().configure({ failNext: 2 });
    const res = await generate(system, { model: 'shared' });
    expect(res.status).toBe(200);
    expect(res.body.provider).toBe('pa');
    expect(res.body.attempts).toEqual([
      expect.objectContaining({ provider: 'pa', model: 'shared', route: 'direct', ok: true, retries: 2 }),
    ]);
    expect(res.headers.get('x-gateway-attempts')).toBe('1');
    expect(callsTo(simA())).toBe(3);
    expect(callsTo(simB())).toBe(0);
  });

  it('honours a 429 Retry-After before retrying the only deployment', async () => {
    simA().configure({ failNext: 1, failStatus: [429], retryAfterS: 1 });
    const res = await generate(system, { model: 'pa/shared' });
    expect(res.status).toBe(200);
    expect(res.body.attempts).toEqual([expect.objectContaining({ provider: 'pa', ok: true, retries: 1 })]);
    const [first, second] = simA().lastRequests(2);
    expect(second.at - first.at).toBeGreaterThanOrEqual(1000);
  });

  it('a 429 with a long Retry-After moves on to another deployment at once instead of waiting it out', async () => {
    simA().configure({ failNext: 1, failStatus: [429], retryAfterS: 10 });
    const started = Date.now();
    const res = await generate(system, { model: 'shared' });
    expect(res.status).toBe(200);
    expect(res.body.attempts).toEqual([
      expect.objectContaining({ provider: 'pa', ok: false, errorClass: 'rate_limit', status: 429, retries: 0 }),
      expect.objectContaining({ provider: 'pb', ok: true, retries: 0 }),
    ]);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('stops retrying when the wait would pass the deadline, and answers before it', async () => {
    simA().configure({ failNext: 1, failStatus: [429], retryAfterS: 10 });
    const res = await chat(system, { model: 'pa/shared' });
    // 429 with the attempt, not the gateway's 504: the worker gave up instead of sleeping past the deadline, and the
    // client's retry logic (the SDKs retry a 429 after its Retry-After) takes over; no x-should-retry: false.
    expect(res.status).toBe(429);
    expect(res.headers.get('x-should-retry')).toBeNull();
    expect(res.body.error).toMatchObject({
      code: 'provider_rate_limited',
      type: 'rate_limit_error',
      attempts: [{ provider: 'pa', model: 'shared', ok: false, errorClass: 'rate_limit', status: 429, retries: 0 }],
    });
    expect(res.headers.get('retry-after')).toBe('10');
    expect(callsTo(simA())).toBe(1);
  });

  it('moves on after an auth error without retrying it', async () => {
    simA().configure({ failNext: 1, failStatus: [401] });
    const res = await chat(system, { model: 'shared' });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-gateway-provider')).toBe('pb');
    expect(res.headers.get('x-gateway-attempts')).toBe('2');
    expect(res.headers.get('x-gateway-route')).toBe('direct');
    expect(callsTo(simA())).toBe(1);

    // pa's failure has a usage row of its own (unbilled, linked to the request) beside the request's pb row.
    const id = res.headers.get('x-request-id')!;
    type Row = { request_id: string; attempt_of: string | null; provider: string; status: string; cost_usd: string };
    const rows = await waitFor(
      async () => {
        const found = await system.query<Row>(
          `SELECT request_id, attempt_of, provider, status, error_class, cost_usd FROM usage_records
            WHERE request_id = $1 OR attempt_of = $1 ORDER BY request_id`,
          [id],
        );
        return found.length === 2 ? found : null;
      },
      { timeoutMs: 15_000, message: 'usage rows not written' },
    );
    expect(rows).toEqual([
      expect.objectContaining({ request_id: id, attempt_of: null, provider: 'pb', status: 'success' }),
      expect.objectContaining({
        request_id: `${id}#1`,
        attempt_of: id,
        provider: 'pa',
        status: 'error',
        error_class: 'auth',
      }),
    ]);
    expect(Number(rows[1].cost_usd)).toBe(0);
  });

  it('keeps a pinned provider/model pinned, unless the request allows fallback', async () => {
    simA().configure({ failRate: 1, failStatus: [401] });
    const pinned = await chat(system, { model: 'pa/shared' });
    expect(pinned.status).toBe(502);
    expect(pinned.body.error).toMatchObject({ code: 'all_providers_failed' });
    expect(callsTo(simB())).toBe(0);

    const viaHeader = await chat(system, { model: 'pa/shared' }, { 'x-gateway-allow-fallback': 'true' });
    expect(viaHeader.status).toBe(200);
    expect(viaHeader.headers.get('x-gateway-provider')).toBe('pb');
    const viaBody = await generate(system, { model: 'pa/shared', allowFallback: true });
    expect(viaBody.status).toBe(200);
    expect(viaBody.body.provider).toBe('pb');
    expect(callsTo(simB())).toBe(2);

    const bad = await chat(system, { model: 'pa/shared' }, { 'x-gateway-allow-fallback': 'maybe' });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ param: 'x-gateway-allow-fallback' });
  });

  it('fails fast on an invalid request: no retry, no fallback', async () => {
    simA().configure({ failNext: 1, failStatus: [400] });
    const res = await chat(system, { model: 'shared' });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'invalid_request' });
    expect(callsTo(simA())).toBe(1);
    expect(callsTo(simB())).toBe(0);
  });

  it('answers 502 all_providers_failed with every attempt when all fail', async () => {
    simA().configure({ failRate: 1 });
    simB().configure({ failRate: 1, failStatus: [500] });
    const res = await chat(system, { model: 'shared' });
    expect(res.status).toBe(502);
    expect(res.body.error?.code).toBe('all_providers_failed');
    expect(res.body.error?.type).toBe('provider_error');
    expect(res.body.error?.attempts).toEqual([
      expect.objectContaining({
        provider: 'pa',
        model: 'shared',
        route: 'direct',
        ok: false,
        errorClass: 'provider',
        status: 503,
        retries: 2,
      }),
      expect.objectContaining({
        provider: 'pb',
        model: 'shared',
        route: 'direct',
        ok: false,
        errorClass: 'provider',
        status: 500,
        retries: 2,
      }),
    ]);
    for (const attempt of res.body.error?.attempts ?? []) {
      expect(attempt.latencyMs).toBeGreaterThanOrEqual(0);
    }
    expect(JSON.stringify(res.body)).not.toContain('secret');
    expect(callsTo(simA())).toBe(3);
    expect(callsTo(simB())).toBe(3);
  });

  it('answers 503 all_providers_overloaded with the shortest wait, a provider that named none counting as 1 s', async () => {
    // pa (tried first) asks for 30 s and is left for after pb; pb names no wait: it may be called again soon, so the
    // client is not told to sleep pa's 30 s (it was, as the shortest wait *named*).
    simA().configure({ failRate: 1, failStatus: [529], retryAfterS: 30 });
    simB().configure({ failRate: 1, failStatus: [529] });
    const res = await chat(system, { model: 'shared' });
    expect(res.status).toBe(503);
    expect(res.headers.get('x-should-retry')).toBe('true');
    expect(res.headers.get('retry-after')).toBe('1');
    expect(res.body.error).toMatchObject({
      code: 'all_providers_overloaded',
      type: 'service_unavailable_error',
      attempts: [
        { provider: 'pa', ok: false, status: 529, retries: 0 },
        { provider: 'pb', ok: false, status: 529, retries: 2 },
      ],
    });

    // Both named one: the shorter.
    simB().configure({ retryAfterS: 20 });
    const named = await chat(system, { model: 'shared' });
    expect(named.status).toBe(503);
    expect(named.headers.get('retry-after')).toBe('20');
  });

  it('answers a mix of an unreachable provider and an overloaded one with 503 all_providers_overloaded, in either order', async () => {
    // `auto` routes over both: one drops every connection (a network failure), the other is out of room. The
    // unreachable one says nothing of a retry's chances; the other says one a little later likely succeeds, as it
    // would once the dropped one's circuit opened and skipped it. Not a 502 the SDKs are told not to retry.
    simA().configure({ failRate: 1, failMode: 'drop' });
    simB().configure({ failRate: 1, failStatus: [529] });
    for (const policy of ['cost', 'quality']) {
      const res = await chat(system, { model: 'auto', policy });
      expect(res.status).toBe(503);
      expect(res.headers.get('x-should-retry')).toBe('true');
      expect(res.headers.get('retry-after')).toBe('1');
      const attempts = [
        expect.objectContaining({ provider: 'pa', ok: false, errorClass: 'network' }),
        expect.objectContaining({ provider: 'pb', ok: false, errorClass: 'provider', status: 529 }),
      ];
      expect(res.body.error).toMatchObject({ code: 'all_providers_overloaded', type: 'service_unavailable_error' });
      expect(res.body.error?.attempts).toEqual(policy === 'cost' ? attempts : attempts.reverse());
    }
    // A 500 beside the unreachable one still says nothing of a retry: the 502 that says not to.
    simB().configure({ failStatus: [500] });
    const broken = await chat(system, { model: 'auto' });
    expect(broken.status).toBe(502);
    expect(broken.headers.get('x-should-retry')).toBe('false');
    expect(broken.body.error?.code).toBe('all_providers_failed');
  });

  it('picks the order by alias, body policy and the x-gateway-policy header', async () => {
    const by = async (p: Promise<{ headers: Headers }>) => (await p).headers.get('x-gateway-provider');
    expect(await by(chat(system, { model: 'cheapest' }))).toBe('pa');
    expect(await by(chat(system, { model: 'best' }))).toBe('pb');
    expect(await by(chat(system, { model: 'shared' }))).toBe('pa');
    expect(await by(chat(system, { model: 'shared' }, { 'x-gateway-policy': 'quality' }))).toBe('pb');
    expect(await by(chat(system, { model: 'shared', policy: 'quality' }))).toBe('pb');
    expect((await generate(system, { model: 'shared', policy: 'quality' })).body.provider).toBe('pb');
    expect(await by(chat(system, { model: 'pb/shared', policy: 'cost' }))).toBe('pb');
  });

  describe('streams', () => {
    it('fall back to the next provider when the first fails before its first chunk', async () => {
      simA().configure({ failRate: 1, failMode: 'drop' });
      const res = await chatStream(system, { model: 'shared' });
      expect(res.status).toBe(200);
      expect(res.headers.get('x-gateway-provider')).toBe('pb');
      expect(res.events.at(-1)).toBe('[DONE]');
      expect(res.events.some((e) => e.includes('"error"'))).toBe(false);
      expect(callsTo(simA())).toBe(3);
      expect(callsTo(simB())).toBe(1);
    });

    it('end with an error event, never a clean [DONE], when the provider fails after the first chunk', async () => {
      // Chunks spaced out, so the first ones reach the client in reads of their own (chunks read together with
      // the error event reach it too: test/worker/stream-failures.test.ts).
      simA().configure({
        echo: false,
        chunkDelayMs: 30,
        failNext: 1,
        failMode: 'error_mid_stream',
        failAfterChunks: 3,
      });
      const res = await chatStream(system, { model: 'shared' });
      expect(res.status).toBe(200);
      expect(res.headers.get('x-gateway-provider')).toBe('pa');
      expect(res.events).not.toContain('[DONE]');
      const content = res.events.filter((e) => e.includes('"delta"') && e.includes('"content"'));
      expect(content.length).toBeGreaterThanOrEqual(1);
      expect(JSON.parse(res.events.at(-1) ?? '{}')).toMatchObject({ error: { code: 'provider_error' } });
      // Committed to A: no retry, no fallback after the first chunk.
      expect(callsTo(simA())).toBe(1);
      expect(callsTo(simB())).toBe(0);
    });
  });
});
