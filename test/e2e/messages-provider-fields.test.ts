import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { TestSystem } from './harness';

type Body = Record<string, unknown>;

/**
 * A provider on loopback that keeps the bodies it is sent: Anthropic's Messages API (`claude`) or OpenAI's chat
 * completions (`openai`, which refuses more than 4 stop sequences as OpenAI's API does).
 */
class Upstream {
  readonly bodies: Body[] = [];
  /** The headers of each request in `bodies`, in the same order. */
  readonly headers: IncomingHttpHeaders[] = [];
  private readonly server: Server = createServer((req, res) => void this.answer(req, res));

  constructor(private readonly wire: 'claude' | 'openai') {}

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

  /** As LiteLLM answers for Claude with thinking on: the text, the thinking, and its blocks with their signatures. */
  private messageFor(body: Body): Body {
    if (body.model !== 'claude-proxied') {
      return { role: 'assistant', content: 'from openai' };
    }
    return {
      role: 'assistant',
      content: 'from claude via litellm',
      reasoning_content: 'Let me see.',
      thinking_blocks: [{ type: 'thinking', thinking: 'Let me see.', signature: 'sig-litellm' }],
    };
  }

  private async answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let raw = '';
    for await (const part of req) {
      raw += (part as Buffer).toString();
    }
    const json = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (req.method !== 'POST') {
      json(200, { object: 'list', data: [{ id: 'gpt' }, { id: 'claude' }, { id: 'shared' }] });
      return;
    }
    const body = JSON.parse(raw) as Body;
    this.bodies.push(body);
    this.headers.push(req.headers);
    if (this.wire === 'claude') {
      json(200, {
        id: 'msg_up1',
        type: 'message',
        role: 'assistant',
        model: body.model,
        content: [{ type: 'text', text: 'from claude' }],
        stop_reason: 'end_turn',
        stop_sequence: null,
        usage: { input_tokens: 5, output_tokens: 2 },
      });
      return;
    }
    if (Array.isArray(body.stop) && body.stop.length > 4) {
      json(400, {
        error: {
          message: "Invalid 'stop': array too long. Expected an array with maximum length 4.",
          type: 'invalid_request_error',
          param: 'stop',
          code: 'array_above_max_length',
        },
      });
      return;
    }
    json(200, {
      id: 'chatcmpl-up1',
      object: 'chat.completion',
      created: 1_760_000_000,
      model: body.model,
      choices: [{ index: 0, message: this.messageFor(body), finish_reason: 'stop' }],
      usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
    });
  }
}

interface AnthropicError {
  type: 'error';
  error: { type: string; message: string; param: string | null };
}

/**
 * /v1/messages fields that only some provider families can be told (`service_tier`, adaptive `thinking`, more than 4
 * `stop_sequences`): Claude gets them as sent, the other families what they can take, and a model no family of which
 * takes them is a 400 in Anthropic's shape naming the field, never the provider's own 400.
 */
describe('/v1/messages fields that depend on the provider family (e2e)', () => {
  const claude = new Upstream('claude');
  const openai = new Upstream('openai');
  const system = new TestSystem({
    topology: 'single',
    catalog: () => `providers:
  - id: oai
    kind: openai
    baseUrl: ${openai.url}/v1
    timeoutMs: 10000
    models:
      - { name: gpt, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192, capabilities: [chat, streaming] }
      - { name: shared, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192, capabilities: [chat, streaming] }
  - id: claude
    kind: anthropic
    baseUrl: ${claude.url}
    apiKey: sk-loopback-claude
    timeoutMs: 10000
    models:
      - { name: claude, promptPer1k: 0.003, completionPer1k: 0.015, contextWindow: 8192, capabilities: [chat, streaming] }
      - { name: shared, promptPer1k: 0.003, completionPer1k: 0.015, contextWindow: 8192, capabilities: [chat, streaming] }
  - id: proxied
    kind: anthropic
    baseUrl: http://127.0.0.1:9
    apiKey: sk-loopback-unused
    routing: gateway
    gateway: litellm
    timeoutMs: 10000
    models:
      - { name: claude-proxied, promptPer1k: 0.003, completionPer1k: 0.015, contextWindow: 8192, capabilities: [chat, streaming] }
  - id: claude-auto
    kind: anthropic
    baseUrl: ${claude.url}
    apiKey: sk-loopback-claude
    routing: auto
    gateway: litellm
    timeoutMs: 10000
    models:
      - { name: claude-json, promptPer1k: 0.003, completionPer1k: 0.015, contextWindow: 8192, capabilities: [chat, streaming, json] }
gateways:
  - id: litellm
    baseUrl: ${openai.url}/v1
    timeoutMs: 10000
`,
  });

  beforeAll(async () => {
    await Promise.all([claude.start(), openai.start()]);
    await system.start();
  }, 120_000);
  afterAll(async () => {
    await system.stop();
    await Promise.all([claude.stop(), openai.stop()]);
  }, 60_000);

  const ask = (model: string, extra: Body = {}): Body => ({
    model,
    max_tokens: 2048,
    messages: [{ role: 'user', content: 'Hello there' }],
    ...extra,
  });

  async function post(body: Body): Promise<{ status: number; json: Body }> {
    const res = await fetch(`${system.gatewayUrl}/v1/messages`, {
      method: 'POST',
      headers: { ...system.headers(), 'x-gateway-cache': 'no-store' },
      body: JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json()) as Body };
  }

  /** The body the provider got for the one request `send` makes. */
  async function sentTo(upstream: Upstream, send: () => Promise<{ status: number; json: Body }>): Promise<Body> {
    const before = upstream.bodies.length;
    const res = await send();
    expect(res).toMatchObject({ status: 200 });
    expect(upstream.bodies).toHaveLength(before + 1);
    return upstream.bodies[before];
  }

  describe('service_tier', () => {
    it('reaches Claude as sent', async () => {
      for (const tier of ['standard_only', 'auto']) {
        const body = await sentTo(claude, () => post(ask('claude', { service_tier: tier })));
        expect(body.service_tier).toBe(tier);
      }
    });

    it("'auto' (the default) is served by the other families without it", async () => {
      const body = await sentTo(openai, () => post(ask('gpt', { service_tier: 'auto' })));
      expect(body).not.toHaveProperty('service_tier');
    });

    it("'standard_only' goes to a Claude deployment of the model, and is a 400 naming it where there is none", async () => {
      const body = await sentTo(claude, () => post(ask('shared', { service_tier: 'standard_only' })));
      expect(body.service_tier).toBe('standard_only');
      const before = openai.bodies.length;
      const res = await post(ask('gpt', { service_tier: 'standard_only' }));
      expect(res.status).toBe(400);
      expect((res.json as unknown as AnthropicError).error).toMatchObject({
        type: 'invalid_request_error',
        param: 'service_tier',
      });
      expect(openai.bodies).toHaveLength(before);
    });

    it("'standard_only' reaches a Claude deployment behind an OpenAI-compatible gateway (LiteLLM) too", async () => {
      const body = await sentTo(openai, () => post(ask('claude-proxied', { service_tier: 'standard_only' })));
      expect(body).toMatchObject({ model: 'claude-proxied', service_tier: 'standard_only' });
    });
  });

  describe('thinking: adaptive', () => {
    it('reaches Claude as adaptive thinking, with the max_tokens sent', async () => {
      const body = await sentTo(claude, () => post(ask('claude', { thinking: { type: 'adaptive' } })));
      expect(body.thinking).toEqual({ type: 'adaptive' });
      expect(body.max_tokens).toBe(2048);
    });

    it("reaches Claude with the thinking's display as the client named it", async () => {
      const adaptive = await sentTo(claude, () =>
        post(ask('claude', { thinking: { type: 'adaptive', display: 'summarized' } })),
      );
      expect(adaptive.thinking).toEqual({ type: 'adaptive', display: 'summarized' });
      const budget = { type: 'enabled', budget_tokens: 1024, display: 'omitted' };
      expect((await sentTo(claude, () => post(ask('claude', { thinking: budget })))).thinking).toEqual(budget);
    });

    it('reaches an OpenAI-family model as a medium reasoning effort', async () => {
      const body = await sentTo(openai, () => post(ask('gpt', { thinking: { type: 'adaptive' } })));
      expect(body.reasoning_effort).toBe('medium');
    });

    it('with a budget_tokens is a 400 naming it, as Anthropic answers it', async () => {
      const res = await post(ask('claude', { thinking: { type: 'adaptive', budget_tokens: 2000 } }));
      expect(res.status).toBe(400);
      expect((res.json as unknown as AnthropicError).error).toMatchObject({
        type: 'invalid_request_error',
        param: 'thinking.budget_tokens',
      });
    });
  });

  describe('Claude through an OpenAI-compatible gateway (LiteLLM)', () => {
    const signed = { type: 'thinking', thinking: 'Let me see.', signature: 'sig-litellm' };

    it('answers with its thinking signed, as LiteLLM carries it', async () => {
      const res = await post(ask('claude-proxied', { thinking: { type: 'enabled', budget_tokens: 1024 } }));
      expect(res.status).toBe(200);
      expect(res.json.content).toEqual([signed, { type: 'text', text: 'from claude via litellm' }]);
    });

    it('gets the signed thinking back in the history, in the field LiteLLM reads', async () => {
      const messages = [
        { role: 'user', content: 'Hello there' },
        { role: 'assistant', content: [signed, { type: 'text', text: 'Hi' }] },
        { role: 'user', content: 'And now?' },
      ];
      const body = await sentTo(openai, () => post(ask('claude-proxied', { messages })));
      expect((body.messages as Body[])[1]).toEqual({ role: 'assistant', content: 'Hi', thinking_blocks: [signed] });
    });

    it('gets the prompt-cache marks (system, content parts) LiteLLM passes on to Claude; an OpenAI model none', async () => {
      const mark = { type: 'ephemeral' };
      const cached = {
        system: [{ type: 'text', text: 'You are terse.', cache_control: mark }],
        messages: [{ role: 'user', content: [{ type: 'text', text: 'Hello there', cache_control: mark }] }],
      };
      const body = await sentTo(openai, () => post(ask('claude-proxied', cached)));
      const [system, user] = body.messages as Body[];
      expect(system).toMatchObject({
        role: 'system',
        content: [{ type: 'text', text: 'You are terse.', cache_control: mark }],
      });
      expect(user).toMatchObject({
        role: 'user',
        content: [{ type: 'text', text: 'Hello there', cache_control: mark }],
      });
      // The same request to an OpenAI model: OpenAI refuses fields it does not know, so the marks stay behind.
      const plain = await sentTo(openai, () => post(ask('gpt', cached)));
      expect(JSON.stringify(plain)).not.toContain('cache_control');
    });

    it("gets the client's thinking as Anthropic's `thinking` (LiteLLM's field for it), its budget and display kept", async () => {
      const budget = { type: 'enabled', budget_tokens: 2048 };
      const enabled = await sentTo(openai, () => post(ask('claude-proxied', { max_tokens: 4096, thinking: budget })));
      expect(enabled).toMatchObject({ model: 'claude-proxied', max_tokens: 4096, thinking: budget });
      // Not also as an effort, which LiteLLM would turn into a budget of its own.
      expect(enabled).not.toHaveProperty('reasoning_effort');
      const adaptive = { type: 'adaptive', display: 'summarized' };
      const decided = await sentTo(openai, () => post(ask('claude-proxied', { thinking: adaptive })));
      expect(decided.thinking).toEqual(adaptive);
      expect(decided).not.toHaveProperty('reasoning_effort');
      // An OpenAI model behind the same server gets an effort only: OpenAI refuses a field it does not know.
      const plain = await sentTo(openai, () => post(ask('gpt', { max_tokens: 4096, thinking: budget })));
      expect(plain).not.toHaveProperty('thinking');
      expect(plain.reasoning_effort).toBe('low');
    });

    it("gets the OpenAI endpoint's reasoning_effort as it came, which LiteLLM maps for Claude", async () => {
      const before = openai.bodies.length;
      const res = await fetch(`${system.gatewayUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: { ...system.headers(), 'x-gateway-cache': 'no-store' },
        body: JSON.stringify({
          model: 'claude-proxied',
          messages: [{ role: 'user', content: 'Hello there' }],
          reasoning_effort: 'high',
        }),
      });
      expect(res.status).toBe(200);
      expect(openai.bodies[before]).toMatchObject({ model: 'claude-proxied', reasoning_effort: 'high' });
      expect(openai.bodies[before]).not.toHaveProperty('thinking');
    });

    it('gets a prefill marked `prefix: true`, which LiteLLM reads as one to continue', async () => {
      const messages = [
        { role: 'user', content: 'Name a colour.' },
        { role: 'assistant', content: 'The colour is' },
      ];
      const body = await sentTo(openai, () => post(ask('claude-proxied', { messages })));
      expect(body.messages).toEqual([
        { role: 'user', content: 'Name a colour.' },
        { role: 'assistant', content: 'The colour is', prefix: true },
      ]);
    });

    it("gets the client's anthropic-beta header, which LiteLLM passes on to Claude where forwarding is on", async () => {
      const before = openai.bodies.length;
      const res = await fetch(`${system.gatewayUrl}/v1/messages`, {
        method: 'POST',
        headers: { ...system.headers(), 'x-gateway-cache': 'no-store', 'anthropic-beta': 'context-1m-2025-08-07' },
        body: JSON.stringify(ask('claude-proxied')),
      });
      expect(res.status).toBe(200);
      expect(openai.headers[before]['anthropic-beta']).toBe('context-1m-2025-08-07');
      const plain = await fetch(`${system.gatewayUrl}/v1/messages`, {
        method: 'POST',
        headers: { ...system.headers(), 'x-gateway-cache': 'no-store', 'anthropic-beta': 'context-1m-2025-08-07' },
        body: JSON.stringify(ask('gpt')),
      });
      expect(plain.status).toBe(200);
      expect(openai.headers[before + 1]).not.toHaveProperty('anthropic-beta');
    });
  });

  describe('JSON mode for Claude, which only the route through an OpenAI-compatible gateway (LiteLLM) carries', () => {
    async function chat(body: Body): Promise<{ status: number; json: Body }> {
      const res = await fetch(`${system.gatewayUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: { ...system.headers(), 'x-gateway-cache': 'no-store' },
        body: JSON.stringify(body),
      });
      return { status: res.status, json: (await res.json()) as Body };
    }
    const hello = { model: 'claude-json', messages: [{ role: 'user', content: 'Hello there' }] };

    it("takes an auto provider's gateway route for it, with response_format as sent", async () => {
      const body = await sentTo(openai, () => chat({ ...hello, response_format: { type: 'json_object' } }));
      expect(body).toMatchObject({ model: 'claude-json', response_format: { type: 'json_object' } });
    });

    it('and its direct route, Claude, for a request without it', async () => {
      const body = await sentTo(claude, () => chat(hello));
      expect(body).toMatchObject({ model: 'claude-json' });
    });
  });

  describe('more than 4 stop_sequences', () => {
    const five = ['s1', 's2', 's3', 's4', 's5'];

    it('go to Claude as sent, also for a model the OpenAI family serves too', async () => {
      expect((await sentTo(claude, () => post(ask('claude', { stop_sequences: five })))).stop_sequences).toEqual(five);
      expect((await sentTo(claude, () => post(ask('shared', { stop_sequences: five })))).stop_sequences).toEqual(five);
    });

    it("are a 400 naming stop_sequences in Anthropic's shape for a model only the OpenAI family serves", async () => {
      const before = openai.bodies.length;
      const res = await post(ask('gpt', { stop_sequences: five }));
      expect(res.status).toBe(400);
      const error = (res.json as unknown as AnthropicError).error;
      expect(error).toMatchObject({ type: 'invalid_request_error', param: 'stop_sequences' });
      expect(error.message).toContain("'stop_sequences'");
      expect(openai.bodies).toHaveLength(before);
      // Four are OpenAI's limit: sent as they are.
      const body = await sentTo(openai, () => post(ask('gpt', { stop_sequences: five.slice(0, 4) })));
      expect(body.stop).toEqual(five.slice(0, 4));
    });
  });
});
