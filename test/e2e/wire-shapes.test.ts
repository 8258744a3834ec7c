import { TestSystem } from './harness';

interface Completion {
  id: string;
  choices: { message: { content: string } }[];
}
interface AnthropicMessage {
  id: string;
  content: { type: string; text?: string }[];
}
interface ErrorBody {
  type?: string;
  error: { type: string; message: string; param?: string | null; code?: string };
}

/** The JSON events of an SSE body (`[DONE]` left out). */
function sseData(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('data: ') && line !== 'data: [DONE]')
    .map((line) => JSON.parse(line.slice('data: '.length)) as Record<string, unknown>);
}

let unique = 0;
const prompt = (what: string): string => `${what} ${process.pid}-${Date.now()}-${unique++}`;

/**
 * What the answer looks like on the wire whatever family gave it, through the whole system (gateway → queue →
 * worker → simulator, every family in its own wire format): OpenAI-shape answers carry `chatcmpl-` ids and
 * Anthropic-shape answers `msg_` ids, streamed or not, fresh or from the response cache. And an Anthropic prefill
 * (a `/v1/messages` request ending with an assistant turn) goes only to the families that continue it.
 */
describe('wire shapes across provider families (e2e)', () => {
  const system = new TestSystem({
    workers: 1,
    env: { RETRY_MAX: '0', CACHE_ENABLED: 'true' },
    catalog: (s) => `providers:
  - id: sim0
    kind: openai
    baseUrl: ${s.sim.url}/v1
    apiKey: sk-sim-secret-0
    timeoutMs: 10000
    models:
      - { name: sim-gpt, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192, capabilities: [chat, streaming] }
      - { name: sim-duo, promptPer1k: 0.0001, completionPer1k: 0.0002, contextWindow: 8192, capabilities: [chat, streaming] }
  - id: sim0-anthropic
    kind: anthropic
    baseUrl: ${s.sim.url}
    apiKey: sk-sim-secret-a0
    timeoutMs: 10000
    models:
      - { name: sim-claude, promptPer1k: 0.003, completionPer1k: 0.015, contextWindow: 8192, capabilities: [chat, streaming] }
      - { name: sim-duo, promptPer1k: 0.003, completionPer1k: 0.015, contextWindow: 8192, capabilities: [chat, streaming] }
  - id: gemini
    kind: gemini
    baseUrl: ${s.sim.url}/v1beta
    apiKey: AIzaSy-sim-secret
    timeoutMs: 10000
    models:
      - { name: sim-gemini, promptPer1k: 0.0003, completionPer1k: 0.0025, contextWindow: 8192, capabilities: [chat, streaming] }
  - id: ollama
    kind: ollama
    baseUrl: ${s.sim.url}
    timeoutMs: 10000
    models:
      - { name: sim-llama, promptPer1k: 0, completionPer1k: 0, contextWindow: 8192, capabilities: [chat, streaming] }
`,
  });

  beforeAll(async () => {
    await system.start();
  }, 90_000);

  afterAll(() => system.stop(), 30_000);

  function post(path: string, body: object, headers: Record<string, string> = {}): Promise<Response> {
    return fetch(`${system.gatewayUrl}${path}`, {
      method: 'POST',
      headers: { ...system.headers(), ...headers },
      body: JSON.stringify(body),
    });
  }

  const chat = (model: string, content: string, stream = false): Promise<Response> =>
    post('/v1/chat/completions', { model, stream, messages: [{ role: 'user', content }] });

  const messages = (model: string, content: string, stream = false): Promise<Response> =>
    post('/v1/messages', { model, stream, max_tokens: 64, messages: [{ role: 'user', content }] });

  /** The id every chunk of an OpenAI-shape stream carries (one id for the whole stream). */
  async function chunkId(res: Response): Promise<string> {
    expect(res.status).toBe(200);
    const ids = new Set(sseData(await res.text()).map((e) => e.id));
    expect(ids.size).toBe(1);
    return String([...ids][0]);
  }

  /** The id of an Anthropic-shape stream's message (message_start). */
  async function streamedMessageId(res: Response): Promise<string> {
    expect(res.status).toBe(200);
    const start = sseData(await res.text()).find((e) => e.type === 'message_start') as
      { message: { id: string } } | undefined;
    return start?.message.id ?? '';
  }

  // The simulator's own ids: OpenAI's `chatcmpl-sim...`, Anthropic's `msg_sim...`; Gemini's responseId has no prefix,
  // and Ollama gives none (the gateway makes one of the request id).
  const families = [
    ['OpenAI-compatible', 'sim0/sim-gpt', /^chatcmpl-sim/, /^msg_chatcmpl-sim/],
    ['Anthropic', 'sim0-anthropic/sim-claude', /^chatcmpl-msg_sim/, /^msg_sim/],
    ['Gemini', 'gemini/sim-gemini', /^chatcmpl-/, /^msg_/],
    ['Ollama', 'ollama/sim-llama', /^chatcmpl-req_/, /^msg_chatcmpl-req_/],
  ] as const;

  describe.each(families)('an answer from the %s family', (_family, model, openAiId, anthropicId) => {
    it('carries a chatcmpl- id on /v1/chat/completions, streamed or not', async () => {
      const whole = await chat(model, prompt('ids whole'));
      expect(whole.status).toBe(200);
      expect(((await whole.json()) as Completion).id).toMatch(openAiId);
      expect(await chunkId(await chat(model, prompt('ids streamed'), true))).toMatch(openAiId);
    });

    it('carries a msg_ id on /v1/messages, streamed or not', async () => {
      const whole = await messages(model, prompt('ids whole'));
      expect(whole.status).toBe(200);
      expect(((await whole.json()) as AnthropicMessage).id).toMatch(anthropicId);
      expect(await streamedMessageId(await messages(model, prompt('ids streamed'), true))).toMatch(anthropicId);
    });
  });

  it("a cached Anthropic answer is served with each shape's id, its own request's", async () => {
    const content = prompt('cache ids');
    const fill = await chat('sim0-anthropic/sim-claude', content);
    expect(fill.headers.get('x-gateway-cache')).toBe('miss');
    expect(((await fill.json()) as Completion).id).toMatch(/^chatcmpl-msg_sim/);

    const hit = await chat('sim0-anthropic/sim-claude', content);
    expect(hit.headers.get('x-gateway-cache')).toBe('hit');
    expect(((await hit.json()) as Completion).id).toBe(`chatcmpl-${hit.headers.get('x-request-id')}`);
    const streamedHit = await chat('sim0-anthropic/sim-claude', content, true);
    expect(streamedHit.headers.get('x-gateway-cache')).toBe('hit');
    expect(await chunkId(streamedHit)).toBe(`chatcmpl-${streamedHit.headers.get('x-request-id')}`);

    const asMessage = prompt('cache message ids');
    expect((await messages('sim0-anthropic/sim-claude', asMessage)).headers.get('x-gateway-cache')).toBe('miss');
    const messageHit = await messages('sim0-anthropic/sim-claude', asMessage);
    expect(messageHit.headers.get('x-gateway-cache')).toBe('hit');
    expect(((await messageHit.json()) as AnthropicMessage).id).toMatch(/^msg_/);
  });

  describe('assistant prefill on /v1/messages', () => {
    const prefilled = (model: string, stream = false): object => ({
      model,
      stream,
      max_tokens: 64,
      messages: [
        { role: 'user', content: prompt('Name a colour') },
        { role: 'assistant', content: 'The colour is' },
      ],
    });

    /** The last message of the last request the simulator got, and its route. */
    function lastSent(): { route: string; last: unknown } {
      const [seen] = system.sim.lastRequests(1);
      const body = seen.body as { messages?: unknown[] };
      return { route: seen.route, last: body.messages?.at(-1) };
    }

    it.each([
      ['an OpenAI-compatible deployment', 'sim-gpt', 'openai'],
      ['a pinned OpenAI-compatible deployment of a model Claude serves too', 'sim0/sim-duo', 'openai'],
      ['a Gemini deployment', 'gemini/sim-gemini', 'gemini'],
    ])('to %s is a 400 naming messages, nothing sent', async (_label, model, family) => {
      const calls = system.sim.stats().total;
      const res = await post('/v1/messages', prefilled(model));
      expect(res.status).toBe(400);
      const body = (await res.json()) as ErrorBody;
      expect(body.type).toBe('error');
      expect(body.error.type).toBe('invalid_request_error');
      expect(body.error.param).toBe('messages');
      expect(body.error.message).toMatch(/final assistant message \(a prefill/);
      expect(body.error.message).toContain(`(${family} API)`);
      expect(system.sim.stats().total).toBe(calls);
    });

    it('is routed past the OpenAI-compatible deployment a policy prefers, to Claude, which continues it', async () => {
      const cost = { 'x-gateway-policy': 'cost' };
      // Without a prefill the cheaper OpenAI-compatible deployment answers.
      const plain = await post(
        '/v1/messages',
        { model: 'sim-duo', max_tokens: 16, messages: [{ role: 'user', content: prompt('hi') }] },
        cost,
      );
      expect(plain.status).toBe(200);
      expect(plain.headers.get('x-gateway-provider')).toBe('sim0');

      for (const stream of [false, true]) {
        const res = await post('/v1/messages', prefilled('sim-duo', stream), cost);
        expect(res.status).toBe(200);
        expect(res.headers.get('x-gateway-provider')).toBe('sim0-anthropic');
        await res.text();
        // Claude got the prefill as the conversation's last turn, to continue.
        const sent = lastSent();
        expect(sent.route).toBe('POST /v1/messages');
        expect(sent.last).toMatchObject({ role: 'assistant' });
        expect(JSON.stringify(sent.last)).toContain('The colour is');
      }
    });

    it('goes to Ollama, whose /api/chat continues a final assistant message', async () => {
      const res = await post('/v1/messages', prefilled('ollama/sim-llama'));
      expect(res.status).toBe(200);
      expect(lastSent().last).toMatchObject({ role: 'assistant', content: 'The colour is' });
    });

    it('a trailing assistant message on /v1/chat/completions is OpenAI wire format, sent as it came', async () => {
      const res = await post('/v1/chat/completions', {
        model: 'sim-gpt',
        messages: [
          { role: 'user', content: prompt('Name a colour') },
          { role: 'assistant', content: 'The colour is' },
        ],
      });
      expect(res.status).toBe(200);
      expect(lastSent().last).toMatchObject({ role: 'assistant', content: 'The colour is' });
    });
  });
});
