import Anthropic from '@anthropic-ai/sdk';
import { parseSse } from '@aigw/testing';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TestSystem } from './harness';

/** A provider on loopback that answers by the last user message's text (`answer`), streamed or whole. */
class Upstream {
  private readonly server: Server = createServer((req, res) => void this.serve(req, res));

  constructor(
    private readonly answer: (prompt: string, stream: boolean, res: ServerResponse) => void,
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
    const body = JSON.parse(raw) as { stream?: boolean; messages: { role: string; content: unknown }[] };
    const last = body.messages.at(-1)?.content;
    const prompt = typeof last === 'string' ? last : JSON.stringify(last);
    this.answer(prompt, body.stream === true, res);
  }
}

/** One token's logprob entry, as OpenAI gives it. */
function token(text: string, bytes: number[]): Record<string, unknown> {
  return { token: text, logprob: -0.5, bytes, top_logprobs: [] };
}

/**
 * `Hi—` in three tokens, the em dash split over two of them: the first of those has no text of its own, so its chunk
 * carries logprobs and an empty delta (as OpenAI-compatible servers send a token of an incomplete UTF-8 sequence).
 */
const LOGPROB_TOKENS = [token('Hi', [72, 105]), token('bytes:\\xe2\\x80', [226, 128]), token('bytes:\\x94', [148])];

/** An OpenAI-compatible server: logprobs with an empty delta, and parallel tool calls streamed one after the other. */
function openAiAnswer(prompt: string, stream: boolean, res: ServerResponse): void {
  const base = { id: 'chatcmpl-up', created: 1_760_000_000, model: 'gpt' };
  const usage = { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 };
  const tools = prompt.includes('weather');
  if (prompt.includes('larger')) {
    mistralAnswer(stream, res);
    return;
  }
  if (!stream) {
    const message = tools
      ? {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
            { id: 'call_b', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } },
          ],
        }
      : { role: 'assistant', content: 'Hi—' };
    const choice = {
      index: 0,
      message,
      logprobs: tools ? null : { content: LOGPROB_TOKENS, refusal: null },
      finish_reason: tools ? 'tool_calls' : 'stop',
    };
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ ...base, object: 'chat.completion', choices: [choice], usage }));
    return;
  }
  const chunk = (choice: Record<string, unknown>): string =>
    `data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, ...choice }] })}\n\n`;
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.write(chunk({ delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }));
  if (tools) {
    const call = (index: number, fn: Record<string, string>, id?: string): string =>
      chunk({
        delta: {
          tool_calls: [id === undefined ? { index, function: fn } : { index, id, type: 'function', function: fn }],
        },
        finish_reason: null,
      });
    res.write(call(0, { name: 'get_weather', arguments: '' }, 'call_a'));
    res.write(call(0, { arguments: '{"city":' }));
    res.write(call(0, { arguments: '"Paris"}' }));
    res.write(call(1, { name: 'get_weather', arguments: '' }, 'call_b'));
    res.write(call(1, { arguments: '{"city":' }));
    res.write(call(1, { arguments: '"Ro' }));
    res.write(call(1, { arguments: 'me"}' }));
    res.write(chunk({ delta: {}, finish_reason: 'tool_calls' }));
  } else {
    res.write(chunk({ delta: { content: 'Hi' }, logprobs: { content: [LOGPROB_TOKENS[0]] }, finish_reason: null }));
    res.write(chunk({ delta: {}, logprobs: { content: [LOGPROB_TOKENS[1]] }, finish_reason: null }));
    res.write(chunk({ delta: { content: '—' }, logprobs: { content: [LOGPROB_TOKENS[2]] }, finish_reason: null }));
    res.write(chunk({ delta: {}, logprobs: null, finish_reason: 'stop' }));
  }
  res.write(`data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices: [], usage })}\n\n`);
  res.end('data: [DONE]\n\n');
}

/**
 * Mistral's reasoning models (docs.mistral.ai, "Reasoning"): `content` a list of thinking and text chunks, streamed as
 * such lists while the model thinks and as plain text after.
 */
function mistralAnswer(stream: boolean, res: ServerResponse): void {
  const base = { id: 'cmpl-mistral', created: 1_760_000_000, model: 'magistral' };
  const usage = { prompt_tokens: 9, completion_tokens: 12, total_tokens: 21 };
  const think = (text: string) => ({ type: 'thinking', thinking: [{ type: 'text', text }] });
  if (!stream) {
    const message = { role: 'assistant', content: [think('0.8 > 0.11'), { type: 'text', text: '9.8 is larger.' }] };
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ ...base, choices: [{ index: 0, message, finish_reason: 'stop' }], usage }));
    return;
  }
  const chunk = (delta: Record<string, unknown>, finish: string | null = null): string =>
    `data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.write(chunk({ role: 'assistant', content: '' }));
  res.write(chunk({ content: [think('0.8 ')] }));
  res.write(chunk({ content: [think('> 0.11')] }));
  res.write(chunk({ content: [{ type: 'text', text: '9.8' }] }));
  res.write(chunk({ content: ' is larger.' }));
  res.write(chunk({ content: '' }, 'stop'));
  res.write(`data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices: [], usage })}\n\n`);
  res.end('data: [DONE]\n\n');
}

/** A Messages API server whose answer ends with the stop reason the prompt names. */
function anthropicAnswer(prompt: string, stream: boolean, res: ServerResponse): void {
  const stopReason = /stop:(\w+)/.exec(prompt)?.[1] ?? 'end_turn';
  const usage = { input_tokens: 11, output_tokens: 4 };
  if (!stream) {
    const message = {
      id: 'msg_up',
      type: 'message',
      role: 'assistant',
      model: 'claude',
      content: [{ type: 'text', text: 'Searching' }],
      stop_reason: stopReason,
      stop_sequence: null,
      usage,
    };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(message));
    return;
  }
  const event = (type: string, data: Record<string, unknown>): string =>
    `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.write(
    event('message_start', {
      message: {
        id: 'msg_up',
        type: 'message',
        role: 'assistant',
        model: 'claude',
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: 11, output_tokens: 1 },
      },
    }),
  );
  res.write(event('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }));
  res.write(event('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Searching' } }));
  res.write(event('content_block_stop', { index: 0 }));
  res.write(event('message_delta', { delta: { stop_reason: stopReason, stop_sequence: null }, usage }));
  res.end(event('message_stop', {}));
}

/**
 * What a client of either entrance receives of what the provider streamed: every token's logprobs, Anthropic's own
 * stop reasons, and each of several parallel tool calls streamed as its arguments arrive.
 */
describe('streaming wire fidelity (e2e)', () => {
  const openai = new Upstream(openAiAnswer, '{"object":"list","data":[{"id":"gpt"}]}');
  const claude = new Upstream(anthropicAnswer, '{"data":[{"id":"claude","type":"model"}]}');
  const system = new TestSystem({
    topology: 'single',
    env: { RETRY_MAX: '0' },
    catalog: () => `providers:
  - id: up
    kind: openai
    baseUrl: ${openai.url}/v1
    timeoutMs: 10000
    models:
      - { name: gpt, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192, capabilities: [chat, streaming, tools] }
  - id: upc
    kind: anthropic
    baseUrl: ${claude.url}
    apiKey: sk-up-claude
    timeoutMs: 10000
    models:
      - { name: claude, promptPer1k: 0.003, completionPer1k: 0.015, contextWindow: 8192, capabilities: [chat, streaming, tools] }
`,
  });

  beforeAll(async () => {
    await openai.start();
    await claude.start();
    await system.start();
  }, 120_000);
  afterAll(async () => {
    await system.stop();
    await openai.stop();
    await claude.stop();
  }, 60_000);

  function post(path: string, body: unknown): Promise<Response> {
    return fetch(`${system.gatewayUrl}${path}`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify(body),
    });
  }

  interface Chunk {
    choices: {
      delta: { content?: string };
      logprobs: { content: { token: string }[] } | null;
      finish_reason: string | null;
    }[];
  }

  describe('logprobs', () => {
    const ask = { model: 'up/gpt', logprobs: true, messages: [{ role: 'user', content: 'say hi' }] };
    const tokens = LOGPROB_TOKENS.map((t) => t.token);

    it("streams every token's logprobs, a token without text of its own included", async () => {
      const res = await post('/v1/chat/completions', { ...ask, stream: true });
      expect(res.status).toBe(200);
      const chunks = parseSse(await res.text())
        .filter((e) => e.data !== '[DONE]')
        .map((e) => JSON.parse(e.data) as Chunk);
      const streamed = chunks.flatMap((c) => c.choices[0]?.logprobs?.content ?? []).map((e) => e.token);
      expect(streamed).toEqual(tokens);
      expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('Hi—');
    });

    it("answers the whole answer's logprobs when not streamed", async () => {
      const res = await post('/v1/chat/completions', ask);
      const body = (await res.json()) as { choices: { logprobs: { content: { token: string }[] } }[] };
      expect(body.choices[0].logprobs.content.map((e) => e.token)).toEqual(tokens);
    });
  });

  describe("Mistral's reasoning (content as a list of thinking and text chunks)", () => {
    const messages = [{ role: 'user', content: '9.11 or 9.8: which is larger?' }];

    it('answers the text as content and the thinking as reasoning_content, whole and streamed', async () => {
      const whole = (await (await post('/v1/chat/completions', { model: 'up/gpt', messages })).json()) as {
        choices: { message: { content: string; reasoning_content?: string } }[];
      };
      expect(whole.choices[0].message).toMatchObject({ content: '9.8 is larger.', reasoning_content: '0.8 > 0.11' });
      const res = await post('/v1/chat/completions', { model: 'up/gpt', stream: true, messages });
      const deltas = parseSse(await res.text())
        .filter((e) => e.data !== '[DONE]')
        .map((e) => JSON.parse(e.data) as { choices: { delta: { content?: string; reasoning_content?: string } }[] })
        .map((c) => c.choices[0]?.delta ?? {});
      expect(deltas.map((d) => d.reasoning_content ?? '').join('')).toBe('0.8 > 0.11');
      expect(deltas.map((d) => d.content ?? '').join('')).toBe('9.8 is larger.');
    });

    it('streams the thinking as a thinking block and the text as a text block on /v1/messages', async () => {
      const res = await post('/v1/messages', { model: 'up/gpt', max_tokens: 64, stream: true, messages });
      const events = parseSse(await res.text()).map((e) => JSON.parse(e.data) as Record<string, unknown>);
      const deltas = events
        .filter((e) => e.type === 'content_block_delta')
        .map((e) => e.delta as { type: string; thinking?: string; text?: string });
      expect(
        deltas
          .filter((d) => d.type === 'thinking_delta')
          .map((d) => d.thinking)
          .join(''),
      ).toBe('0.8 > 0.11');
      expect(
        deltas
          .filter((d) => d.type === 'text_delta')
          .map((d) => d.text)
          .join(''),
      ).toBe('9.8 is larger.');
    });
  });

  describe("Anthropic's stop reasons", () => {
    const cases = [
      ['pause_turn', 'stop'],
      ['model_context_window_exceeded', 'length'],
      ['refusal', 'content_filter'],
    ] as const;

    it.each(cases)('passes %s through /v1/messages as it came, whole and streamed', async (reason) => {
      const ask = { model: 'upc/claude', max_tokens: 64, messages: [{ role: 'user', content: `stop:${reason}` }] };
      const whole = (await (await post('/v1/messages', ask)).json()) as { stop_reason: string };
      expect(whole.stop_reason).toBe(reason);
      const events = parseSse(await (await post('/v1/messages', { ...ask, stream: true })).text());
      const delta = events.find((e) => e.event === 'message_delta');
      expect(JSON.parse(delta?.data ?? '{}')).toMatchObject({ delta: { stop_reason: reason } });
      expect(events.at(-1)?.event).toBe('message_stop');
    });

    it.each(cases)('answers %s on /v1/chat/completions as finish_reason %s', async (reason, finish) => {
      const ask = { model: 'upc/claude', messages: [{ role: 'user', content: `stop:${reason}` }] };
      const whole = (await (await post('/v1/chat/completions', ask)).json()) as Chunk;
      expect(whole.choices[0].finish_reason).toBe(finish);
      const chunks = parseSse(await (await post('/v1/chat/completions', { ...ask, stream: true })).text())
        .filter((e) => e.data !== '[DONE]')
        .map((e) => JSON.parse(e.data) as Chunk);
      expect(chunks.map((c) => c.choices[0]?.finish_reason).filter((f) => f)).toEqual([finish]);
    });
  });

  describe('parallel tool calls of an OpenAI-compatible provider on /v1/messages', () => {
    const ask = {
      model: 'up/gpt',
      max_tokens: 64,
      stream: true,
      tools: [{ name: 'get_weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }],
      messages: [{ role: 'user', content: 'weather in Paris and Rome' }],
    };

    it('streams each call as its arguments arrive, one block open at a time', async () => {
      const res = await post('/v1/messages', ask);
      expect(res.status).toBe(200);
      const events = parseSse(await res.text()).map((e) => JSON.parse(e.data) as Record<string, unknown>);
      const blocks = events.filter((e) => String(e.type).startsWith('content_block'));
      // Each fragment the provider sent is an input_json_delta of its call's block, in the order they came.
      expect(
        blocks.map((e) => {
          const delta = e.delta as { partial_json?: string } | undefined;
          return `${String(e.type).slice('content_block_'.length)} ${String(e.index)}${delta ? ` ${delta.partial_json}` : ''}`;
        }),
      ).toEqual([
        'start 0',
        'delta 0 {"city":',
        'delta 0 "Paris"}',
        'stop 0',
        'start 1',
        'delta 1 {"city":',
        'delta 1 "Ro',
        'delta 1 me"}',
        'stop 1',
      ]);
      expect(events.find((e) => e.type === 'message_delta')).toMatchObject({ delta: { stop_reason: 'tool_use' } });
    });

    it('is assembled by the Anthropic SDK into both calls', async () => {
      const client = new Anthropic({ baseURL: system.gatewayUrl, apiKey: system.adminKey, maxRetries: 0 });
      const { stream: _stream, ...params } = ask;
      const inputs: string[] = [];
      const stream = client.messages.stream(params as Anthropic.MessageCreateParams);
      stream.on('inputJson', (partial) => inputs.push(partial));
      const final = await stream.finalMessage();
      expect(final.content).toEqual([
        { type: 'tool_use', id: 'call_a', name: 'get_weather', input: { city: 'Paris' } },
        { type: 'tool_use', id: 'call_b', name: 'get_weather', input: { city: 'Rome' } },
      ]);
      expect(inputs).toEqual(['{"city":', '"Paris"}', '{"city":', '"Ro', 'me"}']);
    });
  });
});
