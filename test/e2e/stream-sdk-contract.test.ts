import Anthropic from '@anthropic-ai/sdk';
import { parseSse } from '@aigw/testing';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { TestSystem } from './harness';

type Answer = (prompt: string, res: ServerResponse) => void;

/** A streaming provider on loopback that answers by a word in the last user message. */
class Upstream {
  private readonly server: Server = createServer((req, res) => void this.serve(req, res));

  constructor(
    private readonly answer: Answer,
    private readonly models: string,
  ) {}

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

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let raw = '';
    for await (const part of req) {
      raw += (part as Buffer).toString();
    }
    if (req.method !== 'POST') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(this.models);
      return;
    }
    const body = JSON.parse(raw) as { messages: { content: unknown }[] };
    const last = body.messages.at(-1)?.content;
    this.answer(typeof last === 'string' ? last : JSON.stringify(last), res);
  }
}

/**
 * An OpenAI-compatible stream: `Hel` then `lo`; `midfail`: an in-band error after `Hel`; `cut`: the connection dropped
 * after `Hel`; `tools`: two parallel calls, both in each chunk, every fragment repeating its id and name (as some
 * servers do), text in the chunk that finishes.
 */
const openAiAnswer: Answer = (prompt, res) => {
  const base = { id: 'chatcmpl-up', object: 'chat.completion.chunk', created: 1, model: 'gpt' };
  const chunk = (delta: Record<string, unknown>, finish: string | null = null): string =>
    `data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })}\n\n`;
  const usage = { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 };
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.write(chunk({ role: 'assistant', content: '' }));
  if (prompt === 'tools') {
    const call = (index: number, id: string, name: string, args: string): Record<string, unknown> => ({
      index,
      id,
      type: 'function',
      function: { name, arguments: args },
    });
    res.write(chunk({ tool_calls: [call(0, 'call_a', 'f', '{"a"'), call(1, 'call_b', 'g', '{"b"')] }));
    res.write(chunk({ tool_calls: [call(0, 'call_a', 'f', ':1}'), call(1, 'call_b', 'g', ':2}')] }));
    res.write(
      `data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: { content: 'done' }, finish_reason: 'tool_calls' }], usage })}\n\n`,
    );
    res.end('data: [DONE]\n\n');
    return;
  }
  res.write(chunk({ content: 'Hel' }));
  if (prompt === 'midfail') {
    const error = { message: 'boom', type: 'server_error', code: 'server_error' };
    setTimeout(() => res.end(`data: ${JSON.stringify({ error })}\n\n`), 30);
    return;
  }
  if (prompt === 'cut') {
    setTimeout(() => res.destroy(), 30);
    return;
  }
  res.write(chunk({ content: 'lo' }));
  res.write(chunk({}, 'stop'));
  res.write(`data: ${JSON.stringify({ ...base, choices: [], usage })}\n\n`);
  res.end('data: [DONE]\n\n');
};

/**
 * A Messages API stream: `Hel` then `lo`; `midfail`: an `overloaded_error` event after `Hel`; `starttext`: `Hel` in the
 * text block's content_block_start; `startthinking`: a signed thinking block and the text, each whole in its start.
 */
const anthropicAnswer: Answer = (prompt, res) => {
  const event = (type: string, data: Record<string, unknown>): string =>
    `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const message = { id: 'msg_up', type: 'message', role: 'assistant', model: 'claude', content: [] };
  res.write(event('message_start', { message: { ...message, usage: { input_tokens: 11, output_tokens: 1 } } }));
  res.write(event('ping', {}));
  if (prompt === 'startthinking') {
    // A thinking block given whole in its start, signature included (as a proxy replaying a whole answer streams it).
    const block = { type: 'thinking', thinking: 'Hmm', signature: 'sig-whole' };
    res.write(event('content_block_start', { index: 0, content_block: block }));
    res.write(event('content_block_stop', { index: 0 }));
    res.write(event('content_block_start', { index: 1, content_block: { type: 'text', text: 'Hello' } }));
    res.write(event('content_block_stop', { index: 1 }));
    res.write(event('message_delta', { delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 2 } }));
    res.end(event('message_stop', {}));
    return;
  }
  if (prompt === 'starttext') {
    // As some Anthropic-compatible servers stream: the block's first text in its content_block_start.
    res.write(event('content_block_start', { index: 0, content_block: { type: 'text', text: 'Hel' } }));
  } else {
    res.write(event('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }));
    res.write(event('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Hel' } }));
  }
  if (prompt === 'midfail') {
    const error = { type: 'overloaded_error', message: 'Overloaded' };
    setTimeout(() => res.end(event('error', { error })), 30);
    return;
  }
  res.write(event('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'lo' } }));
  res.write(event('content_block_stop', { index: 0 }));
  res.write(event('message_delta', { delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 2 } }));
  res.end(event('message_stop', {}));
};

/**
 * Streaming as the official SDKs see it, on both entrances, whichever family answers: the usage chunk only when
 * asked and last, a failure after the first token raised by the SDK (never a stream that just ends short), parallel
 * tool calls assembled, and the headers that keep proxies from buffering.
 */
describe('streaming against the official SDKs (e2e)', () => {
  const openaiUp = new Upstream(openAiAnswer, '{"object":"list","data":[{"id":"gpt"}]}');
  const claudeUp = new Upstream(anthropicAnswer, '{"data":[{"id":"claude","type":"model"}]}');
  const system = new TestSystem({
    topology: 'single',
    env: { RETRY_MAX: '0' },
    catalog: () => `providers:
  - id: up
    kind: openai
    baseUrl: ${openaiUp.url}/v1
    timeoutMs: 10000
    models:
      - { name: gpt, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192, capabilities: [chat, streaming, tools] }
  - id: upc
    kind: anthropic
    baseUrl: ${claudeUp.url}
    apiKey: sk-up-claude
    timeoutMs: 10000
    models:
      - { name: claude, promptPer1k: 0.003, completionPer1k: 0.015, contextWindow: 8192, capabilities: [chat, streaming, tools] }
`,
  });
  let openai: OpenAI;
  let anthropic: Anthropic;

  beforeAll(async () => {
    await openaiUp.start();
    await claudeUp.start();
    await system.start();
    openai = new OpenAI({ baseURL: `${system.gatewayUrl}/v1`, apiKey: system.adminKey, maxRetries: 0 });
    anthropic = new Anthropic({ baseURL: system.gatewayUrl, apiKey: system.adminKey, maxRetries: 0 });
  }, 120_000);
  afterAll(async () => {
    await system.stop();
    await openaiUp.stop();
    await claudeUp.stop();
  }, 60_000);

  interface Chunk {
    choices: { delta: { content?: string }; finish_reason: string | null }[];
    usage?: { total_tokens: number } | null;
  }

  async function rawChunks(model: string, includeUsage: boolean): Promise<{ res: Response; chunks: string[] }> {
    const res = await fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({
        model,
        stream: true,
        messages: [{ role: 'user', content: 'plain' }],
        ...(includeUsage ? { stream_options: { include_usage: true } } : {}),
      }),
    });
    return { res, chunks: parseSse(await res.text()).map((e) => e.data) };
  }

  describe.each(['up/gpt', 'upc/claude'])('%s on /v1/chat/completions', (model) => {
    it('sends the usage chunk last, with no choices, only when asked, then [DONE]', async () => {
      const asked = await rawChunks(model, true);
      expect(asked.res.headers.get('content-type')).toBe('text/event-stream');
      expect(asked.res.headers.get('x-accel-buffering')).toBe('no');
      expect(asked.res.headers.get('x-request-id')).toMatch(/^req_/);
      expect(asked.chunks.at(-1)).toBe('[DONE]');
      const parsed = asked.chunks.slice(0, -1).map((c) => JSON.parse(c) as Chunk);
      const last = parsed.at(-1);
      expect(last?.choices).toEqual([]);
      expect(last?.usage?.total_tokens).toBeGreaterThan(0);
      expect(parsed.slice(0, -1).every((c) => c.usage === null && c.choices.length === 1)).toBe(true);
      expect(parsed.at(-2)?.choices[0].finish_reason).toBe('stop');

      const unasked = await rawChunks(model, false);
      const plain = unasked.chunks.slice(0, -1).map((c) => JSON.parse(c) as Chunk);
      expect(plain.every((c) => !('usage' in c) && c.choices.length === 1)).toBe(true);
      expect(plain.at(-1)?.choices[0].finish_reason).toBe('stop');
      expect(plain.map((c) => c.choices[0].delta.content ?? '').join('')).toBe('Hello');
    });
  });

  describe("text in a Messages API provider's content_block_start", () => {
    it('reaches an OpenAI SDK client', async () => {
      const final = await openai.chat.completions
        .stream({ model: 'upc/claude', messages: [{ role: 'user', content: 'starttext' }] })
        .finalChatCompletion();
      expect(final.choices[0].message.content).toBe('Hello');
    });

    it('reaches an Anthropic SDK client', async () => {
      const final = await anthropic.messages
        .stream({ model: 'upc/claude', max_tokens: 100, messages: [{ role: 'user', content: 'starttext' }] })
        .finalMessage();
      expect(final.content).toEqual([{ type: 'text', text: 'Hello' }]);
    });
  });

  it("keeps a signed thinking block a Messages API provider gives whole in its start, for the client's next turn", async () => {
    const final = await anthropic.messages
      .stream({ model: 'upc/claude', max_tokens: 100, messages: [{ role: 'user', content: 'startthinking' }] })
      .finalMessage();
    expect(final.content).toEqual([
      { type: 'thinking', thinking: 'Hmm', signature: 'sig-whole' },
      { type: 'text', text: 'Hello' },
    ]);
  });

  describe('a failure after the first token', () => {
    it.each([
      ['up/gpt', 'midfail'],
      ['up/gpt', 'cut'],
      ['upc/claude', 'midfail'],
    ])('from %s (%s) is raised by the OpenAI SDK after the text that came', async (model, prompt) => {
      const stream = await openai.chat.completions.create({
        model,
        stream: true,
        messages: [{ role: 'user', content: prompt }],
      });
      let text = '';
      const read = async (): Promise<void> => {
        for await (const chunk of stream) {
          text += chunk.choices[0]?.delta.content ?? '';
        }
      };
      await expect(read()).rejects.toBeInstanceOf(OpenAI.APIError);
      expect(text).toBe('Hel');
    });

    it.each([
      ['up/gpt', 'midfail'],
      ['up/gpt', 'cut'],
      ['upc/claude', 'midfail'],
    ])('from %s (%s) is raised by the Anthropic SDK after the text that came', async (model, prompt) => {
      const stream = anthropic.messages.stream({
        model,
        max_tokens: 100,
        messages: [{ role: 'user', content: prompt }],
      });
      let text = '';
      stream.on('text', (t) => (text += t));
      await expect(stream.finalMessage()).rejects.toBeInstanceOf(Anthropic.APIError);
      expect(text).toBe('Hel');
    });
  });

  describe('parallel tool calls sent together, each fragment repeating its id', () => {
    it('reach the OpenAI SDK with each id once, arguments joined, finish_reason tool_calls', async () => {
      const res = await fetch(`${system.gatewayUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: system.headers(),
        body: JSON.stringify({ model: 'up/gpt', stream: true, messages: [{ role: 'user', content: 'tools' }] }),
      });
      const fragments = parseSse(await res.text())
        .filter((e) => e.data !== '[DONE]')
        .flatMap((e) => (JSON.parse(e.data) as { choices: { delta: { tool_calls?: { id?: string }[] } }[] }).choices)
        .flatMap((c) => c.delta.tool_calls ?? []);
      expect(fragments.map((f) => f.id)).toEqual(['call_a', 'call_b', undefined, undefined]);

      const final = await openai.chat.completions
        .stream({ model: 'up/gpt', messages: [{ role: 'user', content: 'tools' }] })
        .finalChatCompletion();
      expect(final.choices[0].finish_reason).toBe('tool_calls');
      expect(final.choices[0].message.content).toBe('done');
      expect(final.choices[0].message.tool_calls).toEqual([
        { id: 'call_a', type: 'function', function: { name: 'f', arguments: '{"a":1}' } },
        { id: 'call_b', type: 'function', function: { name: 'g', arguments: '{"b":2}' } },
      ]);
    });

    it('reach the Anthropic SDK as two tool_use blocks, then the text, stop_reason tool_use', async () => {
      const res = await fetch(`${system.gatewayUrl}/v1/messages`, {
        method: 'POST',
        headers: system.headers(),
        body: JSON.stringify({
          model: 'up/gpt',
          max_tokens: 100,
          stream: true,
          messages: [{ role: 'user', content: 'tools' }],
        }),
      });
      const types = parseSse(await res.text()).map((e) => e.event);
      expect(types.slice(0, 2)).toEqual(['message_start', 'ping']);
      expect(types.slice(-2)).toEqual(['message_delta', 'message_stop']);
      expect(types.filter((t) => t === 'content_block_start')).toHaveLength(3);
      expect(types.filter((t) => t === 'content_block_stop')).toHaveLength(3);

      const final = await anthropic.messages
        .stream({ model: 'up/gpt', max_tokens: 100, messages: [{ role: 'user', content: 'tools' }] })
        .finalMessage();
      expect(final.stop_reason).toBe('tool_use');
      expect(final.content).toEqual([
        { type: 'tool_use', id: 'call_a', name: 'f', input: { a: 1 } },
        { type: 'tool_use', id: 'call_b', name: 'g', input: { b: 2 } },
        { type: 'text', text: 'done' },
      ]);
    });
  });
});
