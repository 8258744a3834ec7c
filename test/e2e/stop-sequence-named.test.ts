import { parseSse } from '@aigw/testing';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TestSystem } from './harness';

/**
 * A vLLM server on loopback: it ends every answer at the request's `END` stop string and names it in `stop_reason`,
 * as vLLM's OpenAI-compatible server does (the stop string is not part of the text).
 */
class VllmLike {
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
    let raw = '';
    for await (const part of req) {
      raw += (part as Buffer).toString();
    }
    if (req.method !== 'POST') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"object":"list","data":[{"id":"llama"}]}');
      return;
    }
    const body = JSON.parse(raw) as { stream?: boolean; stop?: string[] };
    const stopReason = body.stop?.includes('END') === true ? 'END' : null;
    const usage = { prompt_tokens: 7, completion_tokens: 2, total_tokens: 9 };
    const base = { id: 'cmpl-v1', created: 1_760_000_000, model: 'llama' };
    if (body.stream !== true) {
      const choice = {
        index: 0,
        message: { role: 'assistant', content: 'one two ' },
        finish_reason: 'stop',
        stop_reason: stopReason,
      };
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ ...base, object: 'chat.completion', choices: [choice], usage }));
      return;
    }
    const chunk = (choice: Record<string, unknown>, extra: Record<string, unknown> = {}): string =>
      `data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices: [choice], ...extra })}\n\n`;
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(chunk({ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }));
    res.write(chunk({ index: 0, delta: { content: 'one ' }, finish_reason: null }));
    res.write(chunk({ index: 0, delta: { content: 'two ' }, finish_reason: null }));
    res.write(chunk({ index: 0, delta: {}, finish_reason: 'stop', stop_reason: stopReason }));
    res.write(`data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices: [], usage })}\n\n`);
    res.end('data: [DONE]\n\n');
  }
}

/**
 * /v1/messages answered by a vLLM deployment: the stop sequence vLLM names is Anthropic's `stop_reason:
 * "stop_sequence"` with `stop_sequence` set, whole and streamed, as a Claude deployment's answer says it.
 */
describe('a stop sequence named by an OpenAI-compatible server (e2e)', () => {
  const vllm = new VllmLike();
  const system = new TestSystem({
    topology: 'single',
    catalog: () => `providers:
  - id: vllm
    kind: openai
    baseUrl: ${vllm.url}/v1
    timeoutMs: 10000
    models:
      - { name: llama, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192, capabilities: [chat, streaming] }
`,
  });

  beforeAll(async () => {
    await vllm.start();
    await system.start();
  }, 120_000);
  afterAll(async () => {
    await system.stop();
    await vllm.stop();
  }, 60_000);

  const ask = (stream: boolean) => ({
    model: 'vllm/llama',
    max_tokens: 32,
    stop_sequences: ['###', 'END'],
    stream,
    messages: [{ role: 'user', content: 'one two END three' }],
  });

  function post(body: unknown): Promise<Response> {
    return fetch(`${system.gatewayUrl}/v1/messages`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify(body),
    });
  }

  it('answers stop_reason stop_sequence with the sequence named', async () => {
    const res = await post(ask(false));
    expect(res.status).toBe(200);
    const msg = (await res.json()) as { stop_reason: string; stop_sequence: string | null };
    expect([msg.stop_reason, msg.stop_sequence]).toEqual(['stop_sequence', 'END']);
  });

  it('streams message_delta with stop_reason stop_sequence and the sequence named', async () => {
    const res = await post(ask(true));
    expect(res.status).toBe(200);
    const events = parseSse(await res.text());
    const delta = events.find((e) => e.event === 'message_delta');
    expect(JSON.parse(delta?.data ?? '{}')).toMatchObject({
      delta: { stop_reason: 'stop_sequence', stop_sequence: 'END' },
    });
    expect(events.at(-1)?.event).toBe('message_stop');
  });
});
