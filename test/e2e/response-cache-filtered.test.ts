import { freePort, parseSse, uniqueId, waitFor } from '@aigw/testing';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { REDIS_URL, TestSystem } from './harness';

/**
 * An OpenAI-compatible server on loopback whose output filter (Azure's, Gemini's SAFETY or RECITATION, Claude's
 * streaming refusal) cuts the first answer to each prompt short with `finish_reason: "content_filter"`; asked again,
 * it answers whole, as a new sample usually is. Counts its chat calls.
 */
class FilteringServer {
  calls = 0;
  /** How long each answer takes: identical requests sent together then share the call (ADR 0007). */
  delayMs = 0;
  private readonly seen = new Set<string>();
  private readonly server: Server = createServer((req, res) => void this.answer(req, res));

  async start(): Promise<void> {
    const port = await freePort();
    await new Promise<void>((resolve) => this.server.listen(port, '127.0.0.1', resolve));
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let raw = '';
    for await (const part of req) {
      raw += (part as Buffer).toString();
    }
    if (req.method !== 'POST') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"object":"list","data":[{"id":"guarded"}]}');
      return;
    }
    this.calls++;
    if (this.delayMs > 0) {
      await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    }
    const body = JSON.parse(raw) as { stream?: boolean; messages: { content: string }[] };
    const prompt = body.messages[body.messages.length - 1].content;
    const filtered = !this.seen.has(prompt);
    this.seen.add(prompt);
    const [text, finish] = filtered ? ['Here is how you', 'content_filter'] : ['Here is the whole answer.', 'stop'];
    const usage = { prompt_tokens: 7, completion_tokens: 5, total_tokens: 12 };
    const base = { id: `cmpl-${this.calls}`, created: 1_760_000_000, model: 'guarded' };
    if (body.stream !== true) {
      const choice = { index: 0, message: { role: 'assistant', content: text }, finish_reason: finish };
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ ...base, object: 'chat.completion', choices: [choice], usage }));
      return;
    }
    const chunk = (choice: Record<string, unknown>, extra: Record<string, unknown> = {}): string =>
      `data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices: [choice], ...extra })}\n\n`;
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(chunk({ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }));
    res.write(chunk({ index: 0, delta: { content: text }, finish_reason: null }));
    res.write(chunk({ index: 0, delta: {}, finish_reason: finish }));
    res.write(`data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices: [], usage })}\n\n`);
    res.end('data: [DONE]\n\n');
  }
}

/**
 * An answer a provider's content filter cut short is that sample's verdict, not the request's answer: stored, it was
 * served to every identical request (every tenant's, under CACHE_SCOPE=global) for CACHE_TTL_S, though asking again
 * gives the whole answer. It is passed on to its client, and not stored (ADR 0005).
 */
describe('response cache: a content-filtered answer is not stored (e2e)', () => {
  const upstream = new FilteringServer();
  const redis = new Redis(REDIS_URL, { lazyConnect: true });
  const system = new TestSystem({
    topology: 'single',
    env: { CACHE_ENABLED: 'true', CACHE_TTL_S: '60' },
    catalog: () => `providers:
  - id: guard
    kind: openai
    baseUrl: ${upstream.url}/v1
    timeoutMs: 10000
    models:
      - { name: guarded, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192, capabilities: [chat, streaming] }
`,
  });

  beforeAll(async () => {
    await upstream.start();
    await system.start();
  }, 120_000);
  afterAll(async () => {
    await system.stop();
    await upstream.stop();
    await redis.quit();
  }, 60_000);

  function chat(prompt: string, stream: boolean): Promise<Response> {
    return fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({ model: 'guard/guarded', messages: [{ role: 'user', content: prompt }], stream }),
    });
  }

  /** The answer's text and finish reason, whole or streamed. */
  async function answerOf(res: Response, stream: boolean): Promise<[string, string]> {
    expect(res.status).toBe(200);
    if (!stream) {
      const body = (await res.json()) as { choices: { message: { content: string }; finish_reason: string }[] };
      return [body.choices[0].message.content, body.choices[0].finish_reason];
    }
    let text = '';
    let finish = '';
    for (const event of parseSse(await res.text())) {
      if (event.data === '[DONE]') {
        continue;
      }
      const chunk = JSON.parse(event.data) as {
        choices: { delta: { content?: string }; finish_reason: string | null }[];
      };
      for (const choice of chunk.choices) {
        text += choice.delta.content ?? '';
        finish = choice.finish_reason ?? finish;
      }
    }
    return [text, finish];
  }

  it.each([false, true])(
    'stream %s: the filtered answer reaches its client, the next request asks again',
    async (stream) => {
      const prompt = `filtered ${uniqueId()}`;
      const first = await chat(prompt, stream);
      expect(first.headers.get('x-gateway-cache')).toBe('miss');
      expect(await answerOf(first, stream)).toEqual(['Here is how you', 'content_filter']);
      const calls = upstream.calls;

      // Not the filtered answer from the cache: the provider is asked again, and its whole answer is stored.
      const second = await chat(prompt, stream);
      expect(second.headers.get('x-gateway-cache')).toBe('miss');
      expect(await answerOf(second, stream)).toEqual(['Here is the whole answer.', 'stop']);
      expect(upstream.calls).toBe(calls + 1);

      const third = await chat(prompt, stream);
      expect(third.headers.get('x-gateway-cache')).toBe('hit');
      expect(await answerOf(third, stream)).toEqual(['Here is the whole answer.', 'stop']);
      expect(upstream.calls).toBe(calls + 1);
    },
  );

  it('an entry a content filter cut short (stored by a worker of an earlier version) is a miss, then replaced', async () => {
    const prompt = `stored filtered ${uniqueId()}`;
    const entries = async (): Promise<string[]> => redis.keys(`${system.prefix}:cache:*`);
    await answerOf(await chat(prompt, false), false);
    const before = new Set(await entries());
    await answerOf(await chat(prompt, false), false);
    const [key] = (await entries()).filter((k) => !before.has(k));
    expect(key).toBeDefined();
    // As an earlier worker stored the filtered answer.
    const stored = JSON.parse((await redis.get(key)) ?? '{}') as Record<string, unknown>;
    await redis.set(
      key,
      JSON.stringify({ ...stored, text: 'Here is how you', finishReason: 'content_filter' }),
      'EX',
      60,
    );
    const calls = upstream.calls;

    const again = await chat(prompt, false);
    expect(again.headers.get('x-gateway-cache')).toBe('miss');
    expect(await answerOf(again, false)).toEqual(['Here is the whole answer.', 'stop']);
    expect(upstream.calls).toBe(calls + 1);
    const replaced = JSON.parse((await redis.get(key)) ?? '{}') as { finishReason: string };
    expect(replaced.finishReason).toBe('stop');
  });

  /**
   * A whole answer a content filter cut short is the leader's sample, not the request's answer: an identical request
   * a moment later asks again (it is not stored), so one that happened to arrive while it was in flight must not be
   * given it either. Its followers run again (together: one more provider call) and get an answer of their own.
   */
  it('coalesced whole followers of a filtered answer run again and get the whole answer', async () => {
    upstream.delayMs = 800;
    try {
      const prompt = `coalesced filtered ${uniqueId()}`;
      const calls = upstream.calls;
      const leader = chat(prompt, false);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const followers = [chat(prompt, false), chat(prompt, false)];
      const [first, ...rest] = await Promise.all([leader, ...followers]);
      expect(first.headers.get('x-gateway-coalesced')).toBeNull();
      expect(await answerOf(first, false)).toEqual(['Here is how you', 'content_filter']);
      for (const res of rest) {
        expect(await answerOf(res, false)).toEqual(['Here is the whole answer.', 'stop']);
      }
      // The followers' second run is one call between them.
      expect(upstream.calls).toBe(calls + 2);
      // One usage row each: the leader's call, the follower that led the second call, the one that followed it.
      const ids = [first, ...rest].map((r) => r.headers.get('x-request-id'));
      const rows = await waitFor(async () => {
        const found = await system.query<{ cached: boolean; status: string }>(
          'SELECT cached, status FROM usage_records WHERE request_id = ANY($1)',
          [ids],
        );
        return found.length === 3 ? found : null;
      });
      expect(rows.filter((r) => r.status === 'success')).toHaveLength(3);
      expect(rows.filter((r) => r.cached)).toHaveLength(1);
      const third = await chat(prompt, false);
      expect(third.headers.get('x-gateway-cache')).toBe('hit');
    } finally {
      upstream.delayMs = 0;
    }
  });
});

/**
 * A follower asks again only with time for a call as long as the leader's: one that would be cut off by its own
 * deadline takes the filtered answer it has rather than end in a 504.
 */
describe('coalescing: a filtered answer near a follower deadline (e2e)', () => {
  const upstream = new FilteringServer();
  const system = new TestSystem({
    topology: 'single',
    env: { CACHE_ENABLED: 'true', CACHE_TTL_S: '60', REQUEST_TIMEOUT_MS: '3000' },
    catalog: () => `providers:
  - id: guard
    kind: openai
    baseUrl: ${upstream.url}/v1
    timeoutMs: 10000
    models:
      - { name: guarded, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192, capabilities: [chat, streaming] }
`,
  });

  beforeAll(async () => {
    await upstream.start();
    await system.start();
  }, 120_000);
  afterAll(async () => {
    await system.stop();
    await upstream.stop();
  }, 60_000);

  function chat(prompt: string): Promise<Response> {
    return fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({ model: 'guard/guarded', messages: [{ role: 'user', content: prompt }] }),
    });
  }

  it('a follower without time for another call gets the filtered answer, not a 504', async () => {
    upstream.delayMs = 2_000;
    const prompt = `late follower ${uniqueId()}`;
    const calls = upstream.calls;
    const leader = chat(prompt);
    await new Promise((resolve) => setTimeout(resolve, 800));
    const follower = await chat(prompt);
    await leader;
    expect(follower.status).toBe(200);
    expect(follower.headers.get('x-gateway-coalesced')).toBe('true');
    const body = (await follower.json()) as { choices: { finish_reason: string }[] };
    expect(body.choices[0].finish_reason).toBe('content_filter');
    expect(upstream.calls).toBe(calls + 1);
  }, 20_000);
});
