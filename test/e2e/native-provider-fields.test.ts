import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { freePort, waitFor } from '@aigw/testing';
import { TestSystem } from './harness';

/*
 * What an OpenAI-compatible provider says about a native request, through the whole system (adapter, worker,
 * gateway) to a client of the native API: its 400 naming a message by the index it has in the request the provider
 * got (`messages[3].content`), and the reasoning it returned (DeepSeek's `reasoning_content`). Found by review: the
 * native client was told to fix a message index of a body it never sent, and got no reasoning at all.
 */

interface ErrorBody {
  code: string;
  param: string | null;
}

/** Refuses a request whose last message says "refuse", naming that message as OpenAI does; else answers reasoning. */
function provider(req: IncomingMessage, res: ServerResponse): void {
  let raw = '';
  req.on('data', (part: Buffer) => (raw += part.toString()));
  req.on('end', () => {
    if (req.method !== 'POST') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"object":"list","data":[{"id":"reasoner"}]}');
      return;
    }
    const body = JSON.parse(raw) as { messages: { content: string }[] };
    const last = body.messages.length - 1;
    if (body.messages[last].content.includes('refuse')) {
      const error = {
        message: 'Invalid content in message.',
        type: 'invalid_request_error',
        param: `messages[${last}].content`,
        code: null,
      };
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        id: 'chatcmpl-r',
        object: 'chat.completion',
        created: 1_760_000_000,
        model: 'reasoner',
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: '9.8', reasoning_content: 'Compare the tenths.' },
            finish_reason: 'stop',
          },
        ],
        usage: { prompt_tokens: 9, completion_tokens: 5, total_tokens: 14 },
      }),
    );
  });
}

describe('native API: a provider error naming a message and its reasoning, end to end', () => {
  const server: Server = createServer(provider);
  let port = 0;
  const system = new TestSystem({
    env: { RETRY_MAX: '0' },
    catalog: () => `providers:
  - id: deep
    kind: openai
    baseUrl: http://127.0.0.1:${port}/v1
    timeoutMs: 10000
    models:
      - { name: reasoner, promptPer1k: 0.001, completionPer1k: 0.001, contextWindow: 8192, capabilities: [chat, streaming] }
`,
  });

  beforeAll(async () => {
    port = await freePort();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    await system.start();
  }, 120_000);
  afterAll(async () => {
    await system.stop();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }, 30_000);

  async function post(path: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(`${system.gatewayUrl}${path}`, {
      method: 'POST',
      headers: { ...system.headers(), 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  async function jobView(body: unknown): Promise<{ status: string; error?: ErrorBody; result?: unknown }> {
    const submitted = await post('/api/v1/ai/jobs', body);
    expect(submitted.status).toBe(202);
    const jobId = submitted.body.jobId as string;
    return waitFor(async () => {
      const res = await fetch(`${system.gatewayUrl}/api/v1/ai/jobs/${jobId}`, { headers: system.headers() });
      const view = (await res.json()) as { status: string; error?: ErrorBody; result?: unknown };
      return view.status === 'failed' || view.status === 'completed' ? view : null;
    });
  }

  const turns = [
    { role: 'user', content: 'a' },
    { role: 'assistant', content: 'b' },
    { role: 'user', content: 'please refuse' },
  ];
  it.each([
    ['a prompt after a systemPrompt', { prompt: 'refuse', systemPrompt: 'be brief' }, 'prompt'],
    ['a message after a systemPrompt', { messages: turns, systemPrompt: 'be brief' }, 'messages[2].content'],
    ['a message, no systemPrompt', { messages: turns }, 'messages[2].content'],
  ])(
    '%s: generate and a job name the field of the body',
    async (_label, body, param) => {
      const sync = await post('/api/v1/ai/generate', { ...body, model: 'reasoner' });
      expect(sync.status).toBe(400);
      expect(sync.body.error).toMatchObject({ code: 'invalid_request', param });
      const job = await jobView({ ...body, model: 'reasoner' });
      expect(job.status).toBe('failed');
      expect(job.error).toMatchObject({ code: 'invalid_request', param });
    },
    30_000,
  );

  it('carries the reasoning the provider returned, on generate and in a job result', async () => {
    const body = { prompt: 'Which is larger, 9.11 or 9.8?', model: 'reasoner' };
    const sync = await post('/api/v1/ai/generate', body);
    expect(sync.status).toBe(200);
    expect(sync.body).toMatchObject({ text: '9.8', reasoning: 'Compare the tenths.' });
    const job = await jobView({ ...body, useCache: false });
    expect(job.result).toMatchObject({ text: '9.8', reasoning: 'Compare the tenths.' });
  }, 30_000);
});
