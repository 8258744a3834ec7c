import { PrivateRedis, uniqueId } from '@aigw/testing';
import { Redis } from 'ioredis';
import { TestSystem } from './harness';

/**
 * The cache's Redis full (ADR 0005: operators run it with `maxmemory`; under `noeviction`, or before LRU can free
 * enough, it refuses writes with OOM): the worker's fill fails, the request is answered all the same and nothing is
 * stored. Also: a streamed hit with `stream_options.include_usage` ends with the stored answer's usage chunk.
 */
describe('response cache: its Redis refusing writes (e2e)', () => {
  const cacheRedis = new PrivateRedis();
  let system: TestSystem;
  let admin: Redis;

  beforeAll(async () => {
    await cacheRedis.start();
    admin = new Redis(cacheRedis.url);
    system = new TestSystem({
      workers: 1,
      env: { CACHE_ENABLED: 'true', CACHE_TTL_S: '60', CACHE_REDIS_URL: cacheRedis.url },
    });
    await system.start();
  }, 90_000);

  afterAll(async () => {
    await system?.stop();
    await admin?.quit();
    await cacheRedis.stop();
  }, 30_000);

  function chat(content: string, stream: boolean): Promise<Response> {
    return fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({
        model: 'sim-gpt',
        messages: [{ role: 'user', content }],
        stream,
        ...(stream ? { stream_options: { include_usage: true } } : {}),
      }),
    });
  }

  /** The `usage` of the chunk that carries it (OpenAI's last chunk, `choices: []`), or undefined. */
  function usageChunkOf(sse: string): unknown {
    const chunks = sse
      .split('\n')
      .filter((l) => l.startsWith('data: {'))
      .map((l) => JSON.parse(l.slice('data: '.length)) as { choices: unknown[]; usage: unknown });
    return chunks.find((c) => c.choices.length === 0 && c.usage !== null)?.usage;
  }

  it('a streamed hit ends with the usage chunk include_usage asks for, as the miss did', async () => {
    const prompt = `usage ${uniqueId()}`;
    const miss = await chat(prompt, true);
    expect(miss.headers.get('x-gateway-cache')).toBe('miss');
    const missUsage = usageChunkOf(await miss.text());
    expect(missUsage).toMatchObject({ prompt_tokens: expect.any(Number), completion_tokens: expect.any(Number) });
    const hit = await chat(prompt, true);
    expect(hit.headers.get('x-gateway-cache')).toBe('hit');
    const sse = await hit.text();
    expect(usageChunkOf(sse)).toEqual(missUsage);
    expect(sse.trimEnd().endsWith('data: [DONE]')).toBe(true);
  });

  it.each([false, true])('full (OOM): a %s-streamed request is answered, nothing is stored', async (stream) => {
    const entries = await admin.dbsize();
    await admin.config('SET', 'maxmemory-policy', 'noeviction');
    await admin.config('SET', 'maxmemory', '1');
    try {
      const prompt = `full ${String(stream)} ${uniqueId()}`;
      for (let i = 0; i < 2; i++) {
        const res = await chat(prompt, stream);
        expect(res.status).toBe(200);
        // Never stored, so never a hit.
        expect(res.headers.get('x-gateway-cache')).toBe('miss');
        expect(await res.text()).toContain(stream ? 'data: [DONE]' : '"chat.completion"');
      }
      expect(await admin.dbsize()).toBe(entries);
    } finally {
      await admin.config('SET', 'maxmemory', '0');
    }
  });
});
