import { PrivateRedis, uniqueId, waitFor } from '@aigw/testing';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { TestSystem } from './harness';

/** An OpenAI-compatible server on loopback whose output filter cuts every answer short (`content_filter`). */
class FilteringServer {
  calls = 0;
  private readonly server: Server = createServer((req, res) => void this.answer(req, res));

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    for await (const _part of req) {
      // Drained: the answer does not depend on the body.
    }
    if (req.method !== 'POST') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"object":"list","data":[{"id":"guarded"}]}');
      return;
    }
    this.calls++;
    const choice = {
      index: 0,
      message: { role: 'assistant', content: 'Here is how you' },
      finish_reason: 'content_filter',
    };
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        id: `cmpl-${this.calls}`,
        object: 'chat.completion',
        created: 1_760_000_000,
        model: 'guarded',
        choices: [choice],
        usage: { prompt_tokens: 7, completion_tokens: 5, total_tokens: 12 },
      }),
    );
  }
}

interface WarmReport {
  requested: number;
  warmed: number;
  alreadyCached: number;
  skipped: number;
  failed: number;
  results: { status: string; error?: string; reason?: string }[];
}

interface Stats {
  hits: number;
  misses: number;
  bypasses: number;
}

/**
 * What cache warming reports (ADR 0005) is what the cache holds afterwards: a request whose job answered but whose
 * answer was not stored (a content filter cut it short, it is over CACHE_MAX_ENTRY_BYTES, the model that answered an
 * alias has its cache off, or the cache's Redis refused the write) was reported `warmed`, and an operator who warmed
 * their common prompts believed them cached while every identical request still paid a provider call. Such a request
 * is `skipped`, with the reason. And the cache statistics count how requests used the cache: an async job (never
 * looked up, its answer only fills) was counted a `bypass`, the count meant for requests that turned the cache off
 * or found it unreachable.
 */
describe('cache warming reports what was stored; statistics count lookups (e2e)', () => {
  const upstream = new FilteringServer();
  const cacheRedis = new PrivateRedis();
  let redis: Redis;
  let system: TestSystem;
  const options = (): ConstructorParameters<typeof TestSystem>[0] => ({
    topology: 'single',
    env: {
      CACHE_ENABLED: 'true',
      CACHE_TTL_S: '600',
      CACHE_MAX_ENTRY_BYTES: '4096',
      CACHE_REDIS_URL: cacheRedis.url,
    },
    catalog: (s) => `providers:
  - id: sim
    kind: openai
    baseUrl: ${s.sim.url}/v1
    apiKey: sk-sim-secret
    timeoutMs: 10000
    models:
      - name: sim-private
        promptPer1k: 0.0001
        completionPer1k: 0.0002
        contextWindow: 8192
        capabilities: [chat, streaming]
        cache: { enabled: false }
      - { name: sim-open, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192, capabilities: [chat, streaming] }
  - id: guard
    kind: openai
    baseUrl: ${upstream.url}/v1
    timeoutMs: 10000
    models:
      - { name: guarded, promptPer1k: 0.01, completionPer1k: 0.02, contextWindow: 8192, capabilities: [chat, streaming] }
`,
  });

  beforeAll(async () => {
    await upstream.start();
    await cacheRedis.start();
    redis = new Redis(cacheRedis.url);
    system = new TestSystem(options());
    await system.start();
  }, 120_000);

  afterAll(async () => {
    await system?.stop();
    await redis?.quit();
    await cacheRedis.stop();
    await upstream.stop();
  }, 60_000);

  async function warm(requests: unknown[]): Promise<WarmReport> {
    const res = await fetch(`${system.gatewayUrl}/api/v1/ai/admin/cache/warm`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({ requests }),
    });
    expect(res.status).toBe(200);
    return (await res.json()) as WarmReport;
  }

  async function chat(model: string, content: string): Promise<string | null> {
    const res = await fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({ model, messages: [{ role: 'user', content }] }),
    });
    expect(res.status).toBe(200);
    await res.text();
    return res.headers.get('x-gateway-cache');
  }

  async function stats(): Promise<Stats> {
    const res = await fetch(`${system.gatewayUrl}/api/v1/ai/admin/cache/stats`, { headers: system.headers() });
    expect(res.status).toBe(200);
    return (await res.json()) as Stats;
  }

  async function cacheMetric(result: string): Promise<number> {
    const text = await (await fetch(`${system.gatewayUrl}/metrics`)).text();
    return Number(new RegExp(`^aigw_cache_requests_total\\{result="${result}"\\} (\\d+)`, 'm').exec(text)?.[1]);
  }

  const ask = (model: string, content: string): { model: string; messages: { role: string; content: string }[] } => ({
    model,
    messages: [{ role: 'user', content }],
  });

  it('a request answered but not stored is `skipped` with its reason, not `warmed`', async () => {
    const stored = `warm stored ${uniqueId()}`;
    const filtered = `warm filtered ${uniqueId()}`;
    // The simulator echoes the prompt: its answer is over CACHE_MAX_ENTRY_BYTES.
    const big = `warm big ${uniqueId()} ${'x'.repeat(5_000)}`;
    const alias = `warm alias ${uniqueId()}`;
    const report = await warm([
      ask('sim-open', stored),
      ask('guard/guarded', filtered),
      ask('sim-open', big),
      // `cheapest` follows the global settings; the model that answers it (sim-private) has its cache off.
      ask('cheapest', alias),
    ]);
    expect(report).toEqual({
      requested: 4,
      warmed: 1,
      alreadyCached: 0,
      skipped: 3,
      failed: 0,
      results: [
        { status: 'warmed' },
        { status: 'skipped', reason: 'content_filtered' },
        { status: 'skipped', reason: 'too_large' },
        { status: 'skipped', reason: 'cache_disabled' },
      ],
    });
    // What the report says is what the cache holds.
    expect(await chat('sim-open', stored)).toBe('hit');
    expect(await chat('guard/guarded', filtered)).toBe('miss');
    expect(await chat('sim-open', big)).toBe('miss');
    expect(await chat('cheapest', alias)).toBe('miss');
  });

  it('identical requests in one call run once: one provider call, each reported as that run ended', async () => {
    const prompt = `warm twice ${uniqueId()}`;
    const calls = system.sim.stats().total;
    // The second differs only in what the cache key leaves out (the end-user id, metadata, key order).
    const report = await warm([
      ask('sim-open', prompt),
      { messages: [{ content: prompt, role: 'user' }], model: 'sim-open', user: 'someone' },
      ask('sim-open', `${prompt} other`),
    ]);
    expect(report).toMatchObject({
      requested: 3,
      warmed: 3,
      results: [{ status: 'warmed' }, { status: 'warmed' }, { status: 'warmed' }],
    });
    expect(system.sim.stats().total).toBe(calls + 2);
    expect(await chat('sim-open', prompt)).toBe('hit');
  });

  it("the cache's Redis refusing the write: `skipped` (`not_stored`), not `warmed`", async () => {
    const prompt = `warm refused ${uniqueId()}`;
    // Reads still work; every write is refused with OOM (maxmemory 1 byte, noeviction).
    await redis.config('SET', 'maxmemory', '1');
    try {
      const report = await warm([ask('sim-open', prompt)]);
      expect(report).toMatchObject({ warmed: 0, skipped: 1, results: [{ status: 'skipped', reason: 'not_stored' }] });
    } finally {
      await redis.config('SET', 'maxmemory', '0');
    }
    expect(await chat('sim-open', prompt)).toBe('miss');
    expect(await chat('sim-open', prompt)).toBe('hit');
  });

  it('an async job is no cache lookup: not counted a bypass (nor a miss), and its answer fills the cache', async () => {
    const prompt = `async stats ${uniqueId()}`;
    const before = await stats();
    const bypassMetric = await cacheMetric('bypass');
    const missMetric = await cacheMetric('miss');
    const res = await fetch(`${system.gatewayUrl}/api/v1/ai/jobs`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({ model: 'sim-open', prompt }),
    });
    expect(res.status).toBe(202);
    const { jobId } = (await res.json()) as { jobId: string };
    await waitFor(async () => {
      const job = await fetch(`${system.gatewayUrl}/api/v1/ai/jobs/${jobId}`, { headers: system.headers() });
      return ((await job.json()) as { status: string }).status === 'completed';
    });
    const after = await stats();
    expect([after.hits, after.misses, after.bypasses]).toEqual([before.hits, before.misses, before.bypasses]);
    expect(await cacheMetric('bypass')).toBe(bypassMetric);
    expect(await cacheMetric('miss')).toBe(missMetric);

    // Its answer filled the cache: the same request, not async, is a hit.
    const sync = await fetch(`${system.gatewayUrl}/api/v1/ai/generate`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({ model: 'sim-open', prompt }),
    });
    expect(sync.status).toBe(200);
    expect(sync.headers.get('x-gateway-cache')).toBe('hit');

    // A request that turns the cache off is still a bypass.
    const res2 = await fetch(`${system.gatewayUrl}/api/v1/ai/generate`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({ model: 'sim-open', prompt, useCache: false }),
    });
    expect(res2.status).toBe(200);
    expect(res2.headers.get('x-gateway-cache')).toBe('bypass');
    expect((await stats()).bypasses).toBe(before.bypasses + 1);
  });
});
