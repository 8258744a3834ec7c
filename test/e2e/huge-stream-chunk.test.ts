import { parseSse } from '@aigw/testing';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TestSystem } from './harness';

/** Tool-call arguments over the worker's REPLY_PUBLISH_MAX_CHARS (1 MiB), in one provider delta. */
const BIG_ARGS = JSON.stringify({ blob: 'x'.repeat(1_200_000), end: 'é😀' });
/** Text over it too, in one delta. */
const BIG_TEXT = `${'y'.repeat(1_100_000)} 😀 done`;

/**
 * An OpenAI-compatible provider on loopback streaming one delta over 1 MiB: a tool call's arguments (its id and name
 * in the delta before), with the finish reason in a delta of its own (`apart`) or in the same delta (the last one
 * of the stream), or text.
 */
function answer(prompt: string, res: ServerResponse): void {
  const base = { id: 'chatcmpl-big', created: 1_760_000_000, model: 'gpt', object: 'chat.completion.chunk' };
  const chunk = (delta: Record<string, unknown>, finish: string | null = null): string =>
    `data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.write(chunk({ role: 'assistant', content: '' }));
  if (prompt.includes('text')) {
    res.write(chunk({ content: 'Start ' }));
    res.write(chunk({ content: BIG_TEXT }));
    res.write(chunk({}, 'stop'));
  } else {
    const fn = (f: Record<string, string>, id?: string): Record<string, unknown> => ({
      tool_calls: [id === undefined ? { index: 0, function: f } : { index: 0, id, type: 'function', function: f }],
    });
    res.write(chunk(fn({ name: 'save', arguments: '' }, 'call_big')));
    if (prompt.includes('apart')) {
      res.write(chunk(fn({ arguments: BIG_ARGS })));
      res.write(chunk({}, 'tool_calls'));
    } else {
      res.write(chunk(fn({ arguments: BIG_ARGS }), 'tool_calls'));
    }
  }
  const usage = { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 };
  res.write(`data: ${JSON.stringify({ ...base, choices: [], usage })}\n\n`);
  res.end('data: [DONE]\n\n');
}

/**
 * A streamed delta too big to publish (the worker does not publish a message over 1 MiB: Redis would drop the
 * gateway's reply subscriber). Before, the worker left it out: a tool call's arguments were lost without a word when
 * the delta was the stream's last (the client got the call's name, empty arguments and `finish_reason: tool_calls`),
 * and ended the stream in an error otherwise. Now the delta goes in pieces under the limit: the client gets it whole.
 */
describe('a streamed delta over the publish limit (e2e)', () => {
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let raw = '';
    req.on('data', (part: Buffer) => (raw += part.toString()));
    req.on('end', () => {
      if (req.method !== 'POST') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"object":"list","data":[{"id":"gpt"}]}');
        return;
      }
      const body = JSON.parse(raw) as { messages: { content: string }[] };
      answer(body.messages.at(-1)?.content ?? '', res);
    });
  });
  const system = new TestSystem({
    topology: 'split',
    env: { RETRY_MAX: '0' },
    catalog: () => `providers:
  - id: up
    kind: openai
    baseUrl: http://127.0.0.1:${(server.address() as AddressInfo).port}/v1
    timeoutMs: 20000
    models:
      - { name: gpt, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192, capabilities: [chat, streaming, tools] }
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

  interface Chunk {
    error?: unknown;
    choices: {
      delta: {
        content?: string;
        tool_calls?: { index: number; id?: string; function?: { name?: string; arguments?: string } }[];
      };
      finish_reason: string | null;
    }[];
  }

  async function streamed(prompt: string): Promise<Chunk[]> {
    const res = await fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({
        model: 'up/gpt',
        stream: true,
        messages: [{ role: 'user', content: prompt }],
        tools: [{ type: 'function', function: { name: 'save', parameters: { type: 'object' } } }],
      }),
    });
    expect(res.status).toBe(200);
    return parseSse(await res.text())
      .filter((e) => e.data !== '[DONE]')
      .map((e) => JSON.parse(e.data) as Chunk);
  }

  it.each(['last', 'apart'])(
    'relays tool-call arguments over 1 MiB in full (the delta %s)',
    async (where) => {
      const chunks = await streamed(`save it ${where}`);
      expect(chunks.filter((c) => c.error !== undefined)).toEqual([]);
      const fragments = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
      expect(fragments.map((f) => f.id).filter((id) => id !== undefined)).toHaveLength(1);
      const args = fragments.map((f) => f.function?.arguments ?? '').join('');
      expect(args.length).toBe(BIG_ARGS.length);
      expect(args === BIG_ARGS).toBe(true);
      expect(chunks.map((c) => c.choices[0]?.finish_reason).filter((f) => f)).toEqual(['tool_calls']);
    },
    60_000,
  );

  it('relays them in full to an Anthropic-format client too', async () => {
    const res = await fetch(`${system.gatewayUrl}/v1/messages`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({
        model: 'up/gpt',
        max_tokens: 100,
        stream: true,
        messages: [{ role: 'user', content: 'save it last' }],
        tools: [{ name: 'save', input_schema: { type: 'object' } }],
      }),
    });
    expect(res.status).toBe(200);
    const events = parseSse(await res.text()).map(
      (e) => JSON.parse(e.data) as { type: string; delta?: { type: string; partial_json?: string } },
    );
    expect(events.filter((e) => e.type === 'error')).toEqual([]);
    const args = events
      .filter((e) => e.type === 'content_block_delta' && e.delta?.type === 'input_json_delta')
      .map((e) => e.delta?.partial_json ?? '')
      .join('');
    expect(args === BIG_ARGS).toBe(true);
  }, 60_000);

  it('relays text over 1 MiB in full', async () => {
    const chunks = await streamed('some text');
    expect(chunks.filter((c) => c.error !== undefined)).toEqual([]);
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(text.length).toBe(`Start ${BIG_TEXT}`.length);
    expect(text === `Start ${BIG_TEXT}`).toBe(true);
  }, 60_000);
});
