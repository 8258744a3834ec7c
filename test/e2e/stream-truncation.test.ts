import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TestSystem } from './harness';

/**
 * How the cutting provider misbehaves, chosen by the prompt: `meta` sends only what opens a stream (OpenAI's role
 * chunk, Anthropic's message_start and a ping) and closes the response cleanly; `usage-first` is `meta` with the role
 * chunk carrying usage (as servers streaming usage on every chunk send it); `stall` opens likewise and then goes quiet;
 * `partial` sends a first piece of text and closes cleanly, without a finish reason, `[DONE]`, message_delta or
 * message_stop.
 */
type Mode = 'meta' | 'usage-first' | 'stall' | 'partial';

const MODES: Mode[] = ['meta', 'usage-first', 'stall', 'partial'];

function modeOf(prompt: string): Mode {
  return MODES.find((m) => prompt.includes(`[${m}]`)) ?? 'partial';
}

function sse(data: unknown, event?: string): string {
  return `${event === undefined ? '' : `event: ${event}\n`}data: ${JSON.stringify(data)}\n\n`;
}

/** A provider on loopback, speaking OpenAI's and Anthropic's streaming wire formats, that never finishes a stream. */
class Cutter {
  calls = 0;
  private readonly server: Server = createServer((req, res) => void this.serve(req, res));

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
      res.writeHead(404).end();
      return;
    }
    this.calls++;
    const body = JSON.parse(raw) as { messages: { content: unknown }[] };
    const mode = modeOf(JSON.stringify(body.messages));
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    if (req.url?.includes('/messages') === true) {
      this.anthropic(mode, res);
    } else {
      this.openai(mode, res);
    }
  }

  private openai(mode: Mode, res: ServerResponse): void {
    const base = { id: 'chatcmpl-cut', object: 'chat.completion.chunk', created: 1_760_000_000, model: 'gpt' };
    const role = { ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] };
    if (mode === 'usage-first') {
      res.end(sse({ ...role, usage: { prompt_tokens: 9, completion_tokens: 0, total_tokens: 9 } }));
      return;
    }
    if (mode === 'meta') {
      res.end(sse(role));
      return;
    }
    if (mode === 'stall') {
      res.write(sse(role));
      return;
    }
    const text = { ...base, choices: [{ index: 0, delta: { content: 'Cut' }, finish_reason: null }] };
    res.end(sse(role) + sse(text));
  }

  private anthropic(mode: Mode, res: ServerResponse): void {
    const start = sse(
      {
        type: 'message_start',
        message: {
          id: 'msg_cut',
          type: 'message',
          role: 'assistant',
          model: 'claude',
          content: [],
          stop_reason: null,
          usage: { input_tokens: 9, output_tokens: 1 },
        },
      },
      'message_start',
    );
    const ping = sse({ type: 'ping' }, 'ping');
    if (mode === 'meta' || mode === 'usage-first') {
      res.end(start + ping);
      return;
    }
    if (mode === 'stall') {
      res.write(start + ping);
      return;
    }
    res.end(
      start +
        sse(
          { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
          'content_block_start',
        ) +
        ping +
        sse(
          { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Cut' } },
          'content_block_delta',
        ),
    );
  }
}

/** The SSE events of a whole body: name (or `message`) and data. */
function eventsOf(body: string): { event: string; data: string }[] {
  return body
    .split('\n\n')
    .filter((block) => block.trim() !== '' && !block.startsWith(':'))
    .map((block) => {
      const lines = block.split('\n');
      const event = lines.find((l) => l.startsWith('event: '))?.slice(7) ?? 'message';
      const data = lines
        .filter((l) => l.startsWith('data: '))
        .map((l) => l.slice(6))
        .join('\n');
      return { event, data };
    });
}

/**
 * A provider stream that ends (the response closed cleanly) before its end, or fails before its first token, end to
 * end: an api-gateway and a router-worker, real Redis and PostgreSQL, the simulator as the second deployment of each
 * model and a loopback provider that cuts its streams as the first (cheaper, so tried first under the cost policy).
 */
describe('streams the provider cut (e2e, loopback providers in their own wire formats)', () => {
  const cutter = new Cutter();
  const system = new TestSystem({
    env: { RETRY_MAX: '0', ROUTING_DEFAULT_POLICY: 'cost' },
    catalog: (s) => `providers:
  - id: cutter
    kind: openai
    baseUrl: ${cutter.url}/v1
    apiKey: sk-cutter-secret
    timeoutMs: 800
    models:
      - { name: sim-gpt, promptPer1k: 0.0001, completionPer1k: 0.0001, contextWindow: 8192, capabilities: [chat, streaming] }
  - id: cutter-anthropic
    kind: anthropic
    baseUrl: ${cutter.url}
    apiKey: sk-cutter-secret-a
    timeoutMs: 800
    models:
      - { name: sim-claude, promptPer1k: 0.0001, completionPer1k: 0.0001, contextWindow: 8192, capabilities: [chat, streaming] }
${s.catalogYaml().replace(/^providers:\n/, '')}`,
  });

  beforeAll(async () => {
    await cutter.start();
    await system.start();
  }, 120_000);
  afterAll(async () => {
    await system.stop();
    await cutter.stop();
  }, 60_000);
  beforeEach(() => {
    cutter.calls = 0;
  });

  async function stream(path: string, model: string, prompt: string): Promise<{ res: Response; body: string }> {
    const res = await fetch(`${system.gatewayUrl}${path}`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({ model, max_tokens: 64, stream: true, messages: [{ role: 'user', content: prompt }] }),
    });
    return { res, body: await res.text() };
  }

  describe.each([
    ['/v1/chat/completions', 'sim-gpt', 'cutter', 'sim0'],
    ['/v1/messages', 'sim-claude', 'cutter-anthropic', 'sim0-anthropic'],
  ])('%s (%s)', (path, model, cut, healthy) => {
    it.each(['meta', 'usage-first', 'stall'] as const)(
      'a stream that failed before its first token (%s) falls back invisibly: one stream, from the next deployment',
      async (mode) => {
        const { res, body } = await stream(path, model, `Say hello [${mode}]`);
        expect(res.status).toBe(200);
        expect(res.headers.get('x-gateway-provider')).toBe(healthy);
        expect(res.headers.get('x-gateway-attempts')).toBe('2');
        expect(cutter.calls).toBe(1);
        const events = eventsOf(body);
        expect(events.some((e) => e.event === 'error' || e.data.includes('"error"'))).toBe(false);
        if (path === '/v1/messages') {
          expect(events.filter((e) => e.event === 'message_start')).toHaveLength(1);
          expect(events.at(-1)?.event).toBe('message_stop');
        } else {
          expect(events.at(-1)?.data).toBe('[DONE]');
          expect(body).not.toContain('chatcmpl-cut');
        }
        expect(body).not.toContain('msg_cut');
      },
    );

    it('a stream closed cleanly after its first token, without its end, ends in an error event, never as finished', async () => {
      const { res, body } = await stream(path, model, 'Say hello [partial]');
      expect(res.status).toBe(200);
      expect(res.headers.get('x-gateway-provider')).toBe(cut);
      expect(cutter.calls).toBe(1);
      const events = eventsOf(body);
      expect(body).toContain('Cut');
      if (path === '/v1/messages') {
        expect(events.at(-1)?.event).toBe('error');
        expect(events.some((e) => e.event === 'message_stop' || e.event === 'message_delta')).toBe(false);
      } else {
        const last = events.at(-1);
        expect(last?.data).toContain('"error"');
        expect(events.some((e) => e.data === '[DONE]')).toBe(false);
        expect(body).not.toMatch(/"finish_reason":"(stop|length)"/);
      }
    });
  });
});
