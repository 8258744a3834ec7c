import { uniqueId } from '@aigw/testing';
import { Redis } from 'ioredis';
import { REDIS_URL, TestSystem } from './harness';

/**
 * How a response cache entry comes and goes through the whole system (ADR 0005), the cache in the main Redis under the
 * system's prefix: clearing a model also clears the answers it gave to an alias (`cheapest`, `auto`, ...), a warm
 * request that refuses the cache (`useCache: false`) is a 400 and does not run, an entry that cannot be read is a
 * miss that the fresh answer replaces (an embeddings answer is readable), and a streamed hit ends as its miss did
 * (finish reason, usage chunk).
 */
describe('response cache entries: clear, warm, unreadable (e2e)', () => {
  let system: TestSystem;
  let redis: Redis;

  beforeAll(async () => {
    system = new TestSystem({
      workers: 1,
      env: { CACHE_ENABLED: 'true', CACHE_TTL_S: '600' },
      // `cheapest` always goes to sim-gpt; sim-dear is another model to clear.
      catalog: (s) => `providers:
  - id: sim0
    kind: openai
    baseUrl: ${s.sim.url}/v1
    apiKey: sk-sim-secret
    timeoutMs: 10000
    models:
      - { name: sim-gpt, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192 }
      - { name: sim-dear, promptPer1k: 0.01, completionPer1k: 0.02, contextWindow: 8192 }
      - { name: sim-embed, promptPer1k: 0.0001, completionPer1k: 0, contextWindow: 8192, capabilities: [embeddings] }
`,
    });
    await system.start();
    redis = new Redis(REDIS_URL);
  }, 90_000);

  afterAll(async () => {
    await redis?.quit();
    await system?.stop();
  }, 30_000);

  const providerCalls = (): number => system.sim.stats().total;

  /** A chat completion; resolves its `x-gateway-cache` and the model that answered. */
  async function chat(model: string, prompt: string): Promise<{ cache: string | null; model: string }> {
    const res = await fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({ model, messages: [{ role: 'user', content: prompt }] }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { model: string };
    return { cache: res.headers.get('x-gateway-cache'), model: body.model };
  }

  async function clear(query: string): Promise<number> {
    const res = await fetch(`${system.gatewayUrl}/api/v1/ai/admin/cache${query}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${system.adminKey}` },
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { deleted: number }).deleted;
  }

  async function entries(): Promise<string[]> {
    return redis.keys(`${system.prefix}:cache:*`);
  }

  it("clearing a model clears the answers it gave to an alias; another model's clear leaves them", async () => {
    const prompt = `alias ${uniqueId()}`;
    const first = await chat('cheapest', prompt);
    expect(first).toEqual({ cache: 'miss', model: 'sim0/sim-gpt' });
    expect((await chat('cheapest', prompt)).cache).toBe('hit');

    expect(await clear('?model=sim-dear')).toBe(0);
    expect((await chat('cheapest', prompt)).cache).toBe('hit');

    // The model's own entries go as before, the alias's entry it answered with them (with a provider prefix too).
    expect((await chat('sim-gpt', prompt)).cache).toBe('miss');
    expect(await clear('?model=sim0/sim-gpt')).toBe(2);
    const calls = providerCalls();
    expect((await chat('cheapest', prompt)).cache).toBe('miss');
    expect((await chat('sim-gpt', prompt)).cache).toBe('miss');
    expect(providerCalls()).toBe(calls + 2);
  });

  it('a warm request with useCache: false is refused (400 naming it): nothing runs, nothing is stored', async () => {
    const prompt = `warm-refused ${uniqueId()}`;
    const calls = providerCalls();
    const res = await fetch(`${system.gatewayUrl}/api/v1/ai/admin/cache/warm`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({
        requests: [
          { model: 'sim-gpt', prompt, useCache: true },
          { model: 'sim-gpt', prompt, useCache: false },
        ],
      }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { param: string } }).error.param).toBe('requests[1].useCache');
    expect(providerCalls()).toBe(calls);
    const native = await fetch(`${system.gatewayUrl}/api/v1/ai/generate`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({ model: 'sim-gpt', prompt }),
    });
    expect(native.status).toBe(200);
    expect(native.headers.get('x-gateway-cache')).toBe('miss');
  });

  it('an unreadable entry is a miss, replaced by the fresh answer: the next identical request is a hit', async () => {
    const prompt = `unreadable ${uniqueId()}`;
    const before = new Set(await entries());
    expect((await chat('sim-gpt', prompt)).cache).toBe('miss');
    const [entry] = (await entries()).filter((k) => !before.has(k));
    expect(entry).toBeDefined();
    for (const unreadable of ['{"truncated', 'null', '[1,2]', '{"provider":"sim0","model":"sim-gpt"}']) {
      await redis.set(entry, unreadable, 'EX', 600);
      expect((await chat('sim-gpt', prompt)).cache).toBe('miss');
      expect(await redis.get(entry)).not.toBe(unreadable);
      expect((await chat('sim-gpt', prompt)).cache).toBe('hit');
    }
  });
  it('a streamed hit replays the finish reason and, when asked, the usage chunk as the miss streamed them', async () => {
    const prompt = `stream fidelity ${uniqueId()} with words enough to be cut short`;
    const stream = async (): Promise<{ cache: string | null; finish: unknown[]; usage: unknown[] }> => {
      const res = await fetch(`${system.gatewayUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: system.headers(),
        body: JSON.stringify({
          model: 'sim-gpt',
          messages: [{ role: 'user', content: prompt }],
          max_tokens: 2,
          stream: true,
          stream_options: { include_usage: true },
        }),
      });
      expect(res.status).toBe(200);
      const chunks = (await res.text())
        .split('\n')
        .filter((l) => l.startsWith('data: {'))
        .map((l) => JSON.parse(l.slice(6)) as { choices: { finish_reason: unknown }[]; usage?: unknown });
      return {
        cache: res.headers.get('x-gateway-cache'),
        finish: chunks.flatMap((c) => c.choices.map((ch) => ch.finish_reason)).filter((f) => f !== null),
        usage: chunks.map((c) => c.usage).filter((u) => u !== null && u !== undefined),
      };
    };
    const miss = await stream();
    expect(miss.cache).toBe('miss');
    expect(miss.finish).toEqual(['length']);
    expect(miss.usage).toHaveLength(1);
    const hit = await stream();
    expect(hit).toEqual({ ...miss, cache: 'hit' });
  });

  it('an embeddings answer is read back from its entry: the identical request is a hit with the same vectors', async () => {
    const input = [`embed ${uniqueId()}`, 'two'];
    const embed = async (): Promise<{ cache: string | null; vectors: unknown }> => {
      const res = await fetch(`${system.gatewayUrl}/v1/embeddings`, {
        method: 'POST',
        headers: system.headers(),
        body: JSON.stringify({ model: 'sim-embed', input }),
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { data: { embedding: number[] }[] };
      return { cache: res.headers.get('x-gateway-cache'), vectors: body.data.map((d) => d.embedding) };
    };
    const miss = await embed();
    expect(miss.cache).toBe('miss');
    const calls = providerCalls();
    expect(await embed()).toEqual({ ...miss, cache: 'hit' });
    expect(providerCalls()).toBe(calls);
  });
});
