import { freePort, uniqueId, waitFor } from '@aigw/testing';
import { TestSystem } from './harness';

const TTL_S = 1;

/**
 * Stale answers as the last fallback (ADR 0005): an answer kept past its freshness (CACHE_STALE_TTL_S, or a model's
 * `cache.staleTtlS`) stands in when every provider failed, whole and streamed, with `x-gateway-cache: stale` and a
 * Warning; a fresh lookup never returns it. A second gateway with CACHE_STALE_TTL_S=0 answers the error as before,
 * except for a model whose catalog entry keeps stale answers; a model with `staleTtlS: 0` never gets one.
 */
describe('stale answers as the last fallback (e2e)', () => {
  const system = new TestSystem({
    workers: 1,
    env: { CACHE_ENABLED: 'true', CACHE_TTL_S: String(TTL_S), CACHE_STALE_TTL_S: '60' },
    appEnv: { 'router-worker': { RETRY_MAX: '0', CB_FAILURE_THRESHOLD: '1000' } },
    catalog: (s) => `providers:
  - id: sim
    kind: openai
    baseUrl: ${s.sim.url}/v1
    apiKey: sk-sim-secret
    timeoutMs: 10000
    models:
      - { name: sim-gpt, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192, capabilities: [chat, streaming] }
      - name: sim-kept
        promptPer1k: 0.001
        completionPer1k: 0.002
        contextWindow: 8192
        capabilities: [chat, streaming]
        cache: { staleTtlS: 60 }
      - name: sim-never-stale
        promptPer1k: 0.001
        completionPer1k: 0.002
        contextWindow: 8192
        capabilities: [chat, streaming]
        cache: { staleTtlS: 0 }
`,
  });
  let noStale = '';

  beforeAll(async () => {
    await system.start();
    const second = await system.spawnApp('api-gateway', await freePort(), { CACHE_STALE_TTL_S: '0' });
    noStale = `http://127.0.0.1:${second.port}`;
  }, 90_000);

  afterAll(() => system.stop(), 30_000);

  afterEach(() => system.sim.configure({ failRate: 0, latencyMs: 0 }));

  interface ChatOptions {
    stream?: boolean;
    gateway?: string;
    headers?: Record<string, string>;
    model?: string;
  }

  function chat(prompt: string, opts: ChatOptions = {}): Promise<Response> {
    return fetch(`${opts.gateway ?? system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...system.headers(), ...opts.headers },
      body: JSON.stringify({
        model: opts.model ?? 'sim-gpt',
        messages: [{ role: 'user', content: prompt }],
        stream: opts.stream,
      }),
    });
  }

  /** Fills the cache with `prompt`'s answer and waits until it is no longer fresh. */
  async function expired(prompt: string, opts: ChatOptions = {}): Promise<void> {
    const miss = await chat(prompt, opts);
    expect(miss.headers.get('x-gateway-cache')).toBe('miss');
    await miss.text();
    expect((await chat(prompt, opts)).headers.get('x-gateway-cache')).toBe('hit');
    await new Promise((r) => setTimeout(r, TTL_S * 1000 + 300));
  }

  it('an expired answer is a miss while providers answer', async () => {
    const prompt = `fresh ${uniqueId()}`;
    await expired(prompt);
    const res = await chat(prompt);
    expect(res.headers.get('x-gateway-cache')).toBe('miss');
    expect(res.headers.get('warning')).toBeNull();
  }, 15_000);

  it('every provider failing: the expired answer answers, marked stale', async () => {
    const prompt = `stale ${uniqueId()}`;
    await expired(prompt);
    system.sim.configure({ failRate: 1, failStatus: [500] });

    const res = await chat(prompt);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-gateway-cache')).toBe('stale');
    expect(res.headers.get('warning')).toBe('110 - "Response is Stale"');
    expect(res.headers.get('x-gateway-cost-usd')).toBe('0');
    const body = (await res.json()) as { choices: { message: { content: string } }[] };
    expect(body.choices[0].message.content).toBe(prompt);

    const streamed = await chat(prompt, { stream: true });
    expect(streamed.status).toBe(200);
    expect(streamed.headers.get('x-gateway-cache')).toBe('stale');
    expect(streamed.headers.get('warning')).toBe('110 - "Response is Stale"');
    const sse = await streamed.text();
    expect(sse).toContain('data: [DONE]');
    expect(sse).toContain(prompt);
  }, 15_000);

  it('a coalesced follower answered stale has a usage row, the failure, as its leader has', async () => {
    for (const stream of [false, true]) {
      const prompt = `stale follower ${stream} ${uniqueId()}`;
      await expired(prompt);
      system.sim.configure({ failRate: 1, failStatus: [500], latencyMs: 3000 });
      const leading = chat(prompt, { stream });
      // The leader is at the provider (so it leads), and stays there long enough for the follower to join it.
      await waitFor(() => system.sim.stats().inFlight === 1, {
        timeoutMs: 3000,
        intervalMs: 20,
        message: 'the leader never reached the provider',
      });
      const [leader, follower] = await Promise.all([leading, chat(prompt, { stream })]);
      expect(follower.headers.get('x-gateway-coalesced')).toBe('true');
      for (const res of [leader, follower]) {
        expect(res.status).toBe(200);
        expect(res.headers.get('x-gateway-cache')).toBe('stale');
        await res.text();
      }

      const ids = [leader, follower].map((r) => r.headers.get('x-request-id'));
      type Row = { request_id: string; status: string; cached: boolean; error_code: string; cost_usd: string };
      const rows = await waitFor(async () => {
        const found = await system.query<Row>(
          'SELECT request_id, status, cached, error_code, cost_usd FROM usage_records WHERE request_id = ANY($1)',
          [ids],
        );
        return found.length === 2 ? found : null;
      });
      const byId = new Map(rows.map((r) => [r.request_id, r]));
      const failure = { status: 'error', error_code: 'all_providers_failed' };
      expect(byId.get(ids[0]!)).toMatchObject({ ...failure, cached: false });
      expect(byId.get(ids[1]!)).toMatchObject({ ...failure, cached: true });
      expect(Number(byId.get(ids[1]!)?.cost_usd)).toBe(0);
      system.sim.configure({ failRate: 0, latencyMs: 0 });
    }
  }, 30_000);

  it('stale off (CACHE_STALE_TTL_S=0), no-cache, or nothing kept: the error as before', async () => {
    const prompt = `no stale ${uniqueId()}`;
    await expired(prompt);
    system.sim.configure({ failRate: 1, failStatus: [500] });

    const off = await chat(prompt, { gateway: noStale });
    expect(off.status).toBe(502);
    expect(((await off.json()) as { error: { code: string } }).error.code).toBe('all_providers_failed');

    const noCache = await chat(prompt, { headers: { 'cache-control': 'no-cache' } });
    expect(noCache.status).toBe(502);
    expect(noCache.headers.get('x-gateway-cache')).toBeNull();

    const never = await chat(`never stored ${uniqueId()}`, { stream: true });
    expect(never.status).toBe(502);
    expect(((await never.json()) as { error: { code: string } }).error.code).toBe('all_providers_failed');
  }, 15_000);

  it("a model's catalog staleTtlS overrides CACHE_STALE_TTL_S: on where the gateway has it off, off where on", async () => {
    const kept = `kept ${uniqueId()}`;
    await expired(kept, { gateway: noStale, model: 'sim-kept' });
    const never = `never ${uniqueId()}`;
    await expired(never, { model: 'sim-never-stale' });
    system.sim.configure({ failRate: 1, failStatus: [500] });

    const stale = await chat(kept, { gateway: noStale, model: 'sim-kept' });
    expect(stale.status).toBe(200);
    expect(stale.headers.get('x-gateway-cache')).toBe('stale');
    const off = await chat(never, { model: 'sim-never-stale' });
    expect(off.status).toBe(502);
  }, 15_000);
});
