import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI, { APIError } from 'openai';
import { TestSystem } from './harness';

/*
 * What an OpenAI-compatible provider puts in its answer beyond the text, through the whole system to the official
 * OpenAI SDK: audio output (OpenAI's `modalities: ["text", "audio"]`), which the gateway cannot relay and so refuses
 * before any provider is paid for it; the usage's details, Predicted Outputs' accepted and rejected tokens (what a
 * client sending `prediction` reads to know whether it pays off) and the prompt's audio tokens, whole and streamed.
 */

interface ChatBody {
  stream?: boolean;
  modalities?: string[];
  prediction?: unknown;
  messages: { content: string }[];
}

const USAGE = { prompt_tokens: 9, completion_tokens: 20, total_tokens: 29 };
/** OpenAI's usage for a request with a `prediction` and an audio part: every detail, zeros included, as OpenAI sends. */
const DETAILED_USAGE = {
  ...USAGE,
  prompt_tokens_details: { cached_tokens: 0, audio_tokens: 4 },
  completion_tokens_details: {
    reasoning_tokens: 0,
    audio_tokens: 0,
    accepted_prediction_tokens: 12,
    rejected_prediction_tokens: 3,
  },
};

/** OpenAI's answer: with audio asked for, the audio in `message.audio` and no `content`, as gpt-4o-audio answers. */
function answer(body: ChatBody, res: ServerResponse): void {
  const top = { id: 'chatcmpl-up', object: 'chat.completion', created: 1_760_000_000, model: 'gpt-4o-audio-preview' };
  const usage = body.prediction === undefined ? USAGE : DETAILED_USAGE;
  if (body.stream === true) {
    const chunk = (choices: unknown[], extra: Record<string, unknown> = {}): string =>
      `data: ${JSON.stringify({ ...top, object: 'chat.completion.chunk', choices, ...extra })}\n\n`;
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(chunk([{ index: 0, delta: { role: 'assistant', content: 'Hello' }, finish_reason: null }]));
    res.write(chunk([{ index: 0, delta: { content: ' there.' }, finish_reason: null }]));
    res.write(chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]));
    res.write(chunk([], { usage }));
    res.end('data: [DONE]\n\n');
    return;
  }
  const message = body.modalities?.includes('audio')
    ? {
        role: 'assistant',
        content: null,
        audio: { id: 'audio_abc', data: 'UklGRiQAAABXQVZF', expires_at: 1_760_003_600, transcript: 'Hello there.' },
      }
    : { role: 'assistant', content: 'Hello there.' };
  res
    .writeHead(200, { 'content-type': 'application/json' })
    .end(JSON.stringify({ ...top, choices: [{ index: 0, message, finish_reason: 'stop' }], usage }));
}

describe('OpenAI SDK: what an answer carries beyond its text (e2e)', () => {
  let calls = 0;
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let raw = '';
    req.on('data', (part: Buffer) => (raw += part.toString()));
    req.on('end', () => {
      if (req.method !== 'POST') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"object":"list","data":[{"id":"gpt-4o"}]}');
        return;
      }
      calls++;
      answer(JSON.parse(raw) as ChatBody, res);
    });
  });
  const system = new TestSystem({
    env: { RETRY_MAX: '0', CACHE_ENABLED: 'true', CACHE_TTL_S: '60' },
    catalog: () => `providers:
  - id: up
    kind: openai
    baseUrl: http://127.0.0.1:${(server.address() as AddressInfo).port}/v1
    timeoutMs: 10000
    models:
      - { name: gpt-4o, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192, capabilities: [chat, streaming] }
`,
  });
  let client: OpenAI;

  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    await system.start();
    client = new OpenAI({ baseURL: `${system.gatewayUrl}/v1`, apiKey: system.adminKey, maxRetries: 0 });
  }, 120_000);
  afterAll(async () => {
    await system.stop();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }, 60_000);

  const messages = [{ role: 'user' as const, content: 'Say hello' }];

  it('refuses audio output (400 naming the field, no provider call), whose audio the answer has no place for', async () => {
    const before = calls;
    for (const stream of [false, true]) {
      const asked = client.chat.completions.create({
        model: 'gpt-4o',
        messages,
        modalities: ['text', 'audio'],
        audio: { voice: 'alloy', format: 'wav' },
        stream,
      });
      const err = await Promise.resolve(asked).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(APIError);
      expect((err as APIError).status).toBe(400);
      expect((err as APIError).code).toBe('unsupported_parameter');
      expect((err as APIError).param).toBe('modalities');
      expect((err as APIError).type).toBe('invalid_request_error');
    }
    // `audio` alone (a client that forgot the modalities) is named too.
    const alone = await client.chat.completions
      .create({ model: 'gpt-4o', messages, audio: { voice: 'alloy', format: 'mp3' } })
      .catch((e: unknown) => e);
    expect((alone as APIError).status).toBe(400);
    expect((alone as APIError).param).toBe('audio');
    expect(calls).toBe(before);
  });

  it("serves OpenAI's default modalities, text only", async () => {
    const res = await client.chat.completions.create({ model: 'gpt-4o', messages, modalities: ['text'] });
    expect(res.choices[0].message.content).toBe('Hello there.');
  });

  it("relays Predicted Outputs' accepted and rejected tokens and the prompt's audio tokens, whole and streamed", async () => {
    const ask = { model: 'gpt-4o', messages, prediction: { type: 'content' as const, content: 'Hello there.' } };
    const whole = await client.chat.completions.create(ask);
    expect(whole.choices[0].message.content).toBe('Hello there.');
    const expected = {
      prompt_tokens: 9,
      completion_tokens: 20,
      total_tokens: 29,
      prompt_tokens_details: { cached_tokens: 0, audio_tokens: 4 },
      completion_tokens_details: { reasoning_tokens: 0, accepted_prediction_tokens: 12, rejected_prediction_tokens: 3 },
    };
    expect(whole.usage).toEqual(expected);
    // The same request again is answered from the response cache, with the same usage.
    const again = await client.chat.completions.create(ask).withResponse();
    expect(again.response.headers.get('x-gateway-cache')).toBe('hit');
    expect(again.data.usage).toEqual(expected);

    const stream = await client.chat.completions.create({
      ...ask,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      usage = chunk.usage ?? usage;
    }
    expect(text).toBe('Hello there.');
    expect(usage).toEqual(expected);
  });
});
