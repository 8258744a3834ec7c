import { waitFor } from '@aigw/testing';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { TestSystem } from './harness';

function chunk(content: string, finish: string | null = null): string {
  const choice = { index: 0, delta: { content }, finish_reason: finish };
  return `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, choices: [choice] })}\n\n`;
}

/**
 * An OpenAI-compatible provider on loopback that holds its streamed answers until `release()`, and keeps idle
 * connections for a minute (and says so), so that only the gateway closing its pool explains a socket closing sooner.
 */
class HeldProvider {
  readonly streams: { res: ServerResponse; socket: Socket }[] = [];
  /** Model-list calls: the health monitor's probes. */
  probes = 0;
  readonly sockets = new Set<Socket>();
  private readonly server: Server;

  constructor() {
    this.server = createServer((req, res) => void this.answer(req, res));
    this.server.keepAliveTimeout = 60_000;
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  release(): void {
    for (const { res } of this.streams) {
      res.end(`${chunk(' world', 'stop')}data: [DONE]\n\n`);
    }
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body = '';
    for await (const part of req) {
      body += (part as Buffer).toString();
    }
    if (req.method === 'GET') {
      this.probes++;
      res
        .writeHead(200, { 'content-type': 'application/json', 'keep-alive': 'timeout=60' })
        .end('{"object":"list","data":[{"id":"held"}]}');
      return;
    }
    const stream = (JSON.parse(body) as { stream?: boolean }).stream === true;
    if (!stream) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          id: 'c2',
          object: 'chat.completion',
          created: 1,
          choices: [{ index: 0, message: { role: 'assistant', content: 'moved' }, finish_reason: 'stop' }],
          usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
        }),
      );
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'keep-alive': 'timeout=60' });
    res.write(chunk('hello'));
    this.streams.push({ res, socket: req.socket });
  }
}

/**
 * An admin moves a provider to another baseUrl while a stream to the old one is in flight: the stream completes,
 * then the worker closes its pool for the old origin (the old server sees the socket close, well before its
 * minute-long keep-alive), the monitor its probes' pool, and the next request goes to the new origin. In the single
 * process, where both run beside each other.
 */
describe("a provider's old origin's connection pool after its baseUrl changed (e2e)", () => {
  const before = new HeldProvider();
  const after = new HeldProvider();
  const system = new TestSystem({
    topology: 'single',
    // Only the control message can explain a prompt reload. Probes on: the monitor's pools are pruned too.
    env: { CATALOG_RELOAD_S: '3600', HEALTH_PROBES_ENABLED: 'true' },
    catalog: () => `providers:
  - id: held
    kind: openai
    baseUrl: ${before.url}/v1
    apiKey: sk-held-secret
    timeoutMs: 20000
    models:
      - { name: held-gpt, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192, capabilities: [chat, streaming] }
`,
  });

  beforeAll(async () => {
    await before.start();
    await after.start();
    await system.start();
  }, 90_000);
  afterAll(async () => {
    await system.stop();
    await before.stop();
    await after.stop();
  }, 30_000);

  const chat = (stream: boolean): Promise<Response> =>
    fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({ model: 'held-gpt', stream, messages: [{ role: 'user', content: 'hi' }] }),
    });

  it("finishes the stream in flight, then closes the old origin's pools; new requests go to the new baseUrl", async () => {
    await waitFor(() => before.probes > 0, { timeoutMs: 15_000, message: 'the monitor probes the provider' });
    const streaming = chat(true);
    await waitFor(() => before.streams.length === 1, { timeoutMs: 15_000, message: 'the stream reaches the provider' });
    const socket = before.streams[0].socket;
    let closedAt = 0;
    socket.once('close', () => {
      closedAt = Date.now();
    });

    const patched = await fetch(`${system.gatewayUrl}/api/v1/ai/admin/providers/held`, {
      method: 'PATCH',
      headers: system.headers(),
      body: JSON.stringify({ baseUrl: `${after.url}/v1` }),
    });
    expect(patched.status).toBe(200);
    // Time for provider.changed to reach the worker and its catalog to reload.
    await sleep(1500);
    expect(closedAt).toBe(0);

    before.release();
    const res = await streaming;
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain('hello');
    expect(text).toContain(' world');
    expect(text).toContain('[DONE]');
    const doneAt = Date.now();
    await waitFor(() => closedAt > 0, { timeoutMs: 5_000, message: "the old origin's socket closes" });
    expect(closedAt - doneAt).toBeLessThan(5_000);
    // The monitor's probe connection too (its own pool, in the same process).
    await waitFor(() => before.sockets.size === 0, { timeoutMs: 5_000, message: "the probes' socket closes" });

    const moved = await chat(false);
    expect(moved.status).toBe(200);
    expect(((await moved.json()) as { choices: { message: { content: string } }[] }).choices[0].message.content).toBe(
      'moved',
    );
  });
});
