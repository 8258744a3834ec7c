import { Redis } from 'ioredis';
import { parseSse, PrivateRedis, simulatedEmbedding, uniqueId } from '@aigw/testing';
import { TestSystem } from './harness';

/**
 * A reply bigger than Redis lets a subscriber fall behind (`client-output-buffer-limit pubsub`, 32 MB hard by
 * default; a 2,048-input batch of 3,072-dimension embeddings is over 100 MB of JSON) made Redis drop the gateway's
 * reply subscriber: that reply and every message of the other requests published until it reconnected were lost
 * (a stream in flight lost chunks, answered from the read-backs). Here Redis allows 2 MB, and the batch is ~9 MB.
 */
describe('a reply over the pub/sub output limit (e2e)', () => {
  const redis = new PrivateRedis(['--client-output-buffer-limit', 'pubsub 2mb 1mb 60']);
  let system: TestSystem;
  let admin: Redis;

  beforeAll(async () => {
    await redis.start();
    system = new TestSystem({
      workers: 1,
      // The cache on: identical requests in flight together share one job (ADR 0007).
      env: { REDIS_URL: redis.url, RETRY_MAX: '0', CACHE_ENABLED: 'true', CACHE_TTL_S: '60' },
      catalog: (s) => `providers:
  - id: sim0
    kind: openai
    baseUrl: ${s.sims[0].url}/v1
    apiKey: sk-sim-secret-0
    timeoutMs: 20000
    models:
      - { name: sim-gpt, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192, capabilities: [chat, streaming] }
      - { name: sim-embed, promptPer1k: 0.0001, completionPer1k: 0, contextWindow: 8192, capabilities: [embeddings] }
`,
    });
    await system.start();
    admin = new Redis(redis.url);
  }, 90_000);

  afterAll(async () => {
    await admin?.quit();
    await system?.stop();
    await redis.stop();
  }, 30_000);

  /** The id of the gateway's reply subscriber connection (it changes when Redis drops it and it reconnects). */
  async function subscriberId(): Promise<string | undefined> {
    const line = String(await admin.client('LIST'))
      .split('\n')
      .find((l) => l.includes(` name=${system.prefix}:replies `));
    return /\bid=(\d+)/.exec(line ?? '')?.[1];
  }

  it('reaches its client without dropping the reply subscriber or another stream in flight', async () => {
    system.sim.configure({ chunkDelayMs: 15 });
    const before = await subscriberId();
    expect(before).toBeDefined();

    const words = Array.from({ length: 120 }, (_, i) => `w${i}`);
    const stream = await fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({ model: 'sim-gpt', stream: true, messages: [{ role: 'user', content: words.join(' ') }] }),
    });
    expect(stream.status).toBe(200);
    const reader = (stream.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let sse = '';
    // The stream is under way before the big reply goes out.
    while (!sse.includes('"content"')) {
      const { value, done } = await reader.read();
      if (done) {
        break;
      }
      sse += decoder.decode(value, { stream: true });
    }

    const inputs = Array.from({ length: 150 }, (_, i) => `big batch ${i} ${uniqueId()}`);
    const embeddings = await fetch(`${system.gatewayUrl}/v1/embeddings`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({ model: 'sim-embed', input: inputs, dimensions: 3072 }),
    });
    expect(embeddings.status).toBe(200);
    const body = (await embeddings.json()) as { data: { index: number; embedding: number[] }[] };
    expect(body.data).toHaveLength(inputs.length);
    expect(body.data[149].embedding).toEqual(simulatedEmbedding('sim-embed', inputs[149], 3072));

    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        break;
      }
      sse += decoder.decode(value, { stream: true });
    }
    const contents = parseSse(sse)
      .filter((e) => e.data !== '[DONE]')
      .map((e) => (JSON.parse(e.data) as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content)
      .filter((c): c is string => c !== undefined && c !== '');
    expect(contents.join('')).toBe(words.join(' '));
    // Every chunk relayed as it came: none lost on the way (a gap is filled in at the end in one piece).
    expect(contents).toHaveLength(words.length);
    expect(await subscriberId()).toBe(before);
  }, 60_000);

  it("reaches the followers of a coalesced job from the leader's kept outcome", async () => {
    system.sim.configure({ chunkDelayMs: 0, latencyMs: 1_000 });
    const before = await subscriberId();
    const inputs = Array.from({ length: 150 }, (_, i) => `shared batch ${i} ${uniqueId()}`);
    const answers = await Promise.all(
      Array.from({ length: 3 }, () =>
        fetch(`${system.gatewayUrl}/v1/embeddings`, {
          method: 'POST',
          headers: system.headers(),
          body: JSON.stringify({ model: 'sim-embed', input: inputs, dimensions: 3072 }),
        }),
      ),
    );
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(answers.filter((r) => r.headers.get('x-gateway-coalesced') === 'true')).toHaveLength(2);
    const expected = simulatedEmbedding('sim-embed', inputs[7], 3072);
    for (const res of answers) {
      const body = (await res.json()) as { data: { embedding: number[] }[] };
      expect(body.data).toHaveLength(inputs.length);
      expect(body.data[7].embedding).toEqual(expected);
    }
    expect(await subscriberId()).toBe(before);
  }, 60_000);

  /**
   * Redis may still drop the subscriber (many ordinary replies piling up behind a stalled gateway, a restart): it
   * subscribes again and reads back every job in flight, whose kept outcome answers what was lost meanwhile.
   */
  it('when the subscriber is dropped anyway, answers the requests in flight from their kept outcomes', async () => {
    system.sim.configure({ chunkDelayMs: 15, latencyMs: 500 });
    const before = await subscriberId();
    const words = Array.from({ length: 80 }, (_, i) => `d${i}`);
    const streamed = fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({ model: 'sim-gpt', stream: true, messages: [{ role: 'user', content: words.join(' ') }] }),
    }).then((r) => r.text());
    const plain = fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({ model: 'sim-gpt', messages: [{ role: 'user', content: 'plain one' }] }),
    }).then(
      async (r) => ((await r.json()) as { choices: { message: { content: string } }[] }).choices[0].message.content,
    );
    // Both answers are on their way: the stream's chunks, and the plain answer about now.
    await new Promise((resolve) => setTimeout(resolve, 480));
    await admin.client('KILL', 'ID', before ?? '');
    const [sse, other] = await Promise.all([streamed, plain]);
    const text = (body: string): string =>
      parseSse(body)
        .filter((e) => e.data !== '[DONE]')
        .map((e) => (JSON.parse(e.data) as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content)
        .join('');
    expect(text(sse)).toBe(words.join(' '));
    expect(other).toBe('plain one');
    expect(await subscriberId()).not.toBe(before);
  }, 60_000);
});
