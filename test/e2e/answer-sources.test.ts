import { parseSse, uniqueId } from '@aigw/testing';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TestSystem } from './harness';

/*
 * The sources an OpenAI-compatible provider gives with its answer, through the whole system to an OpenAI client:
 * Perplexity's top-level `citations` and `search_results` (docs.perplexity.ai; on every stream chunk), OpenAI's
 * `service_tier` (on every chunk) and its search models' `message.annotations` (`url_citation`, streamed on a delta).
 * Whole and streamed, from the provider and from the response cache.
 */

const CITATIONS = ['https://en.wikipedia.org/wiki/Decimal', 'https://www.mathsisfun.com/decimals.html'];
const SEARCH_RESULTS = [
  { title: 'Decimal - Wikipedia', url: CITATIONS[0], date: '2024-11-02' },
  { title: 'Decimals', url: CITATIONS[1], date: null },
];
/** What Perplexity says a prompt with "revised" is sourced from once its answer is under way: as many, other ones. */
const REVISED = [CITATIONS[0], 'https://www.britannica.com/science/decimal'];
const REVISED_RESULTS = [SEARCH_RESULTS[0], { title: 'Decimal | Britannica', url: REVISED[1], date: null }];
const ANNOTATIONS = [
  {
    type: 'url_citation',
    url_citation: { start_index: 0, end_index: 7, url: CITATIONS[0], title: 'Decimal - Wikipedia' },
  },
];

const REFUSAL = "I'm sorry, I can't help with that.";

/**
 * Perplexity's answer (prompts without "openai"), or OpenAI's search model's, streamed or whole; a prompt with
 * "refuse" is refused (whole), as OpenAI refuses: `content: null` and the words in `refusal`.
 */
function answer(prompt: string, stream: boolean, res: ServerResponse): void {
  const openai = prompt.includes('openai');
  const usage = { prompt_tokens: 9, completion_tokens: 5, total_tokens: 14 };
  const top: Record<string, unknown> = openai
    ? { id: 'chatcmpl-up', created: 1_760_000_000, model: 'gpt', service_tier: 'default' }
    : { id: 'pplx-up', created: 1_760_000_000, model: 'sonar', citations: CITATIONS, search_results: SEARCH_RESULTS };
  const text = openai ? 'Decimal says 9.8.' : '9.8 is larger [1][2].';
  if (!stream) {
    // OpenAI's refusal: no content, the model's words in `message.refusal`.
    const refused = prompt.includes('refuse');
    const message: Record<string, unknown> = refused
      ? { role: 'assistant', content: null, refusal: REFUSAL }
      : { role: 'assistant', content: text };
    if (openai) {
      message.annotations = ANNOTATIONS;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        ...top,
        object: 'chat.completion',
        choices: [{ index: 0, message, finish_reason: 'stop' }],
        usage,
      }),
    );
    return;
  }
  const chunk = (delta: Record<string, unknown>, finish: string | null = null): string =>
    `data: ${JSON.stringify({ ...top, object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.write(chunk({ role: 'assistant', content: '' }));
  res.write(chunk({ content: text.slice(0, 5) }));
  if (prompt.includes('revised')) {
    top.citations = REVISED;
    top.search_results = REVISED_RESULTS;
  }
  res.write(chunk({ content: text.slice(5) }));
  if (openai) {
    res.write(chunk({ annotations: ANNOTATIONS }));
  }
  res.write(chunk({}, 'stop'));
  res.write(`data: ${JSON.stringify({ ...top, object: 'chat.completion.chunk', choices: [], usage })}\n\n`);
  res.end('data: [DONE]\n\n');
}

interface Chunk {
  citations?: string[];
  search_results?: unknown[];
  service_tier?: string;
  choices: { delta: { content?: string; annotations?: unknown[] } }[];
}

interface Whole {
  citations?: string[];
  search_results?: unknown[];
  service_tier?: string;
  choices: { message: { content: string; annotations?: unknown[] } }[];
}

describe('answer sources: citations, search_results, service_tier, annotations (e2e)', () => {
  let calls = 0;
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let raw = '';
    req.on('data', (part: Buffer) => (raw += part.toString()));
    req.on('end', () => {
      if (req.method !== 'POST') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"object":"list","data":[{"id":"sonar"}]}');
        return;
      }
      calls++;
      const body = JSON.parse(raw) as { stream?: boolean; messages: { content: string }[] };
      answer(body.messages.at(-1)?.content ?? '', body.stream === true, res);
    });
  });
  const system = new TestSystem({
    env: { RETRY_MAX: '0', CACHE_ENABLED: 'true', CACHE_TTL_S: '60' },
    catalog: () => `providers:
  - id: pplx
    kind: openai
    baseUrl: http://127.0.0.1:${(server.address() as AddressInfo).port}/v1
    timeoutMs: 10000
    models:
      - { name: sonar, promptPer1k: 0.001, completionPer1k: 0.001, contextWindow: 8192, capabilities: [chat, streaming] }
`,
  });

  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    await system.start();
  }, 120_000);
  afterAll(async () => {
    await system.stop();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }, 60_000);

  async function chat(content: string, stream: boolean): Promise<Response> {
    return fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({ model: 'pplx/sonar', stream, messages: [{ role: 'user', content }] }),
    });
  }

  async function chunksOf(res: Response): Promise<Chunk[]> {
    expect(res.status).toBe(200);
    return parseSse(await res.text())
      .filter((e) => e.data !== '[DONE]')
      .map((e) => JSON.parse(e.data) as Chunk);
  }

  /** The client's view of a stream: its text, and each source field once, on the first chunk that has it. */
  function expectPerplexityStream(chunks: Chunk[]): void {
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('9.8 is larger [1][2].');
    expect(chunks.filter((c) => c.citations !== undefined).map((c) => c.citations)).toEqual([CITATIONS]);
    expect(chunks.filter((c) => c.search_results !== undefined).map((c) => c.search_results)).toEqual([SEARCH_RESULTS]);
    // Before the finish: a client that stops reading at the finish reason has them.
    const at = chunks.findIndex((c) => c.citations !== undefined);
    const finish = chunks.findIndex((c) => (c.choices[0] as { finish_reason?: string } | undefined)?.finish_reason);
    expect(at).toBeLessThan(finish);
  }

  /** Index of the first chunk with text. */
  const firstText = (chunks: Chunk[]): number => chunks.findIndex((c) => (c.choices[0]?.delta.content ?? '') !== '');

  it("answers Perplexity's citations and search_results at the top level, whole, and again from the cache", async () => {
    const prompt = `9.11 or 9.8 ${uniqueId()}`;
    const miss = await chat(prompt, false);
    expect(miss.headers.get('x-gateway-cache')).toBe('miss');
    const body = (await miss.json()) as Whole;
    expect(body.choices[0].message.content).toBe('9.8 is larger [1][2].');
    expect(body.citations).toEqual(CITATIONS);
    expect(body.search_results).toEqual(SEARCH_RESULTS);
    expect(body.service_tier).toBeUndefined();
    expect(body.choices[0].message.annotations).toBeUndefined();

    const before = calls;
    const hit = await chat(prompt, false);
    expect(hit.headers.get('x-gateway-cache')).toBe('hit');
    const cached = (await hit.json()) as Whole;
    expect(cached.citations).toEqual(CITATIONS);
    expect(cached.search_results).toEqual(SEARCH_RESULTS);
    // And a streamed request served from that entry.
    const streamedHit = await chat(prompt, true);
    expect(streamedHit.headers.get('x-gateway-cache')).toBe('hit');
    expectPerplexityStream(await chunksOf(streamedHit));
    expect(calls).toBe(before);
  });

  it('streams them once, on the first chunk they are known, not on every chunk', async () => {
    const res = await chat(`9.11 or 9.8, streamed ${uniqueId()}`, true);
    expect(res.headers.get('x-gateway-cache')).toBe('miss');
    const chunks = await chunksOf(res);
    expectPerplexityStream(chunks);
    // Perplexity's first chunk (the role, no text) brought them: they go out before the text, not with the end.
    expect(chunks.findIndex((c) => c.citations !== undefined)).toBeLessThan(firstText(chunks));
  });

  it('streams a list again when it changes mid-stream to one of the same length, each where it came', async () => {
    const chunks = await chunksOf(await chat(`9.11 or 9.8, revised ${uniqueId()}`, true));
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('9.8 is larger [1][2].');
    expect(chunks.filter((c) => c.citations !== undefined).map((c) => c.citations)).toEqual([CITATIONS, REVISED]);
    expect(chunks.filter((c) => c.search_results !== undefined).map((c) => c.search_results)).toEqual([
      SEARCH_RESULTS,
      REVISED_RESULTS,
    ]);
  });

  /** The native API's answer, `POST /api/v1/ai/generate`, or an async job's result once it completed. */
  async function native(prompt: string, how: 'generate' | 'jobs'): Promise<Record<string, unknown>> {
    const body = JSON.stringify({ model: 'pplx/sonar', prompt, useCache: false });
    const res = await fetch(`${system.gatewayUrl}/api/v1/ai/${how}`, {
      method: 'POST',
      headers: system.headers(),
      body,
    });
    if (how === 'generate') {
      expect(res.status).toBe(200);
      return (await res.json()) as Record<string, unknown>;
    }
    expect(res.status).toBe(202);
    const { jobId } = (await res.json()) as { jobId: string };
    for (;;) {
      const job = (await (
        await fetch(`${system.gatewayUrl}/api/v1/ai/jobs/${jobId}`, { headers: system.headers() })
      ).json()) as { status: string; result?: Record<string, unknown> };
      if (job.status === 'completed') {
        return job.result ?? {};
      }
      expect(['queued', 'running']).toContain(job.status);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  it.each(['generate', 'jobs'] as const)(
    'answers them on the native API too (%s), in its own spelling',
    async (how) => {
      const pplx = await native(`9.11 or 9.8, natively ${uniqueId()}`, how);
      expect(pplx.text).toBe('9.8 is larger [1][2].');
      expect(pplx.citations).toEqual(CITATIONS);
      expect(pplx.searchResults).toEqual(SEARCH_RESULTS);
      expect(pplx).not.toHaveProperty('serviceTier');
      expect(pplx).not.toHaveProperty('annotations');

      const openai = await native(`openai search, natively ${uniqueId()}`, how);
      expect(openai.serviceTier).toBe('default');
      expect(openai.annotations).toEqual(ANNOTATIONS);
      expect(openai).not.toHaveProperty('citations');
      expect(openai).not.toHaveProperty('searchResults');
    },
  );

  it.each(['generate', 'jobs'] as const)(
    "answers a provider's refusal on the native API (%s), never an empty text alone",
    async (how) => {
      // Before, the native answer had no place for it: `text: ""` and `finishReason: "stop"`, the model's words lost.
      const refused = await native(`openai, refuse this ${uniqueId()}`, how);
      expect(refused.text).toBe('');
      expect(refused.refusal).toBe(REFUSAL);
      expect(await native(`openai, answer this ${uniqueId()}`, how)).not.toHaveProperty('refusal');
    },
  );

  it('leaves them out on /v1/messages, whose format has no place for them, whole and streamed', async () => {
    const ask = (stream: boolean): Promise<Response> =>
      fetch(`${system.gatewayUrl}/v1/messages`, {
        method: 'POST',
        headers: system.headers(),
        body: JSON.stringify({
          model: 'pplx/sonar',
          max_tokens: 64,
          stream,
          messages: [{ role: 'user', content: `9.11 or 9.8 in Anthropic's words ${uniqueId()}` }],
        }),
      });
    const whole = await (await ask(false)).text();
    expect(JSON.parse(whole)).toMatchObject({ content: [{ type: 'text', text: '9.8 is larger [1][2].' }] });
    expect(whole).not.toContain('mathsisfun');
    const streamed = await (await ask(true)).text();
    const text = parseSse(streamed)
      .map((e) => JSON.parse(e.data) as { type: string; delta?: { text?: string } })
      .filter((e) => e.type === 'content_block_delta')
      .map((e) => e.delta?.text ?? '')
      .join('');
    expect(text).toBe('9.8 is larger [1][2].');
    expect(streamed).not.toContain('mathsisfun');
  });

  it("answers OpenAI's service_tier at the top level and annotations on the message / delta, whole and streamed", async () => {
    const whole = (await (await chat(`openai search ${uniqueId()}`, false)).json()) as Whole;
    expect(whole.service_tier).toBe('default');
    expect(whole.choices[0].message.annotations).toEqual(ANNOTATIONS);
    expect(whole.citations).toBeUndefined();

    const chunks = await chunksOf(await chat(`openai search, streamed ${uniqueId()}`, true));
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('Decimal says 9.8.');
    // OpenAI's chunks each carry it.
    expect(chunks.every((c) => c.service_tier === 'default')).toBe(true);
    expect(chunks.flatMap((c) => c.choices[0]?.delta.annotations ?? [])).toEqual(ANNOTATIONS);
  });
});
