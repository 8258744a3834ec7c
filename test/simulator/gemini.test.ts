import { AdapterRegistry, type AdapterRequest, HttpPool, type ProviderAdapter } from '@aigw/adapters';
import { ErrorClass, ProviderCallError, type StreamDelta } from '@aigw/core';
import { DEFAULT_SIMULATOR_CONFIG, ProviderSimulator } from '@aigw/testing';
import { json, postJson, readUntilBroken } from './support';

interface GeminiResponse {
  candidates: {
    content: {
      role: string;
      parts: { text?: string; thought?: boolean; functionCall?: { name: string; args: unknown } }[];
    };
    finishReason?: string;
  }[];
  usageMetadata: {
    promptTokenCount: number;
    candidatesTokenCount?: number;
    totalTokenCount: number;
    cachedContentTokenCount?: number;
    thoughtsTokenCount?: number;
  };
  modelVersion: string;
  responseId: string;
}

interface GeminiError {
  error: { code: number; message: string; status: string; details?: { '@type': string; retryDelay?: string }[] };
}

const request = (patch: Record<string, unknown> = {}): Record<string, unknown> => ({
  systemInstruction: { parts: [{ text: 'You are terse.' }] },
  contents: [{ role: 'user', parts: [{ text: 'Say hello to the tests.' }] }],
  ...patch,
});

const weatherTool = {
  functionDeclarations: [
    {
      name: 'weather',
      description: 'Weather for a city',
      parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } } },
    },
  ],
};

/** The `data:` payloads of a Gemini SSE body, checking the CRLF framing Google uses. */
function sseChunks(text: string): unknown[] {
  const frames = text.split('\r\n\r\n');
  expect(frames.pop()).toBe('');
  return frames.map((f) => {
    expect(f.startsWith('data: ')).toBe(true);
    return JSON.parse(f.slice('data: '.length)) as unknown;
  });
}

async function collect(stream: AsyncIterable<StreamDelta>): Promise<StreamDelta[]> {
  const out: StreamDelta[] = [];
  for await (const d of stream) {
    out.push(d);
  }
  return out;
}

describe('simulator: Gemini generateContent', () => {
  const sim = new ProviderSimulator({ completionTokens: 4 });
  const pool = new HttpPool();
  const adapter: ProviderAdapter = new AdapterRegistry(pool).get('gemini');
  const key = { 'x-goog-api-key': 'AIzaSy-simulated' };
  const never = new AbortController().signal;
  let base: string;

  beforeAll(async () => {
    await sim.start();
    base = `${sim.url}/v1beta`;
  });
  afterAll(async () => {
    await pool.destroy();
    await sim.stop();
  });
  beforeEach(() => {
    sim.configure({ ...DEFAULT_SIMULATOR_CONFIG, completionTokens: 4 });
    sim.reset();
  });

  const generate = (body: unknown, model = 'sim-gemini'): ReturnType<typeof postJson> =>
    postJson(`${base}/models/${model}:generateContent`, body, key);
  const streamed = (body: unknown, model = 'sim-gemini'): ReturnType<typeof postJson> =>
    postJson(`${base}/models/${model}:streamGenerateContent?alt=sse`, body, key);
  const adapterRequest = (options: AdapterRequest['options'] = {}): AdapterRequest => ({
    target: { baseUrl: base, apiKey: 'AIzaSy-simulated', model: 'sim-gemini', timeoutMs: 5000, poolKey: 'gemini' },
    messages: [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'one two three' },
    ],
    options,
  });

  it('answers a GenerateContentResponse for the model named in the URL, with usage', async () => {
    const reply = await generate(request());
    expect(reply.status).toBe(200);
    expect(reply.headers.get('content-type')).toMatch(/^application\/json/);
    expect(reply.headers.get('x-simulator')).toBe('true');
    // Google sends no OpenAI-style request id or rate-limit headers.
    expect(reply.headers.get('x-request-id')).toBeNull();
    expect(reply.headers.get('x-ratelimit-remaining-requests')).toBeNull();
    const body = json<GeminiResponse>(reply);
    const prompt = Math.ceil(('You are terse.'.length + 'Say hello to the tests.'.length) / 4);
    expect(body).toMatchObject({
      candidates: [{ content: { role: 'model', parts: [{ text: expect.any(String) }] }, finishReason: 'STOP' }],
      usageMetadata: { promptTokenCount: prompt, candidatesTokenCount: 4, totalTokenCount: prompt + 4 },
      modelVersion: 'sim-gemini',
    });
    expect(body.responseId).toMatch(/^sim-gemini-/);
    expect(sim.stats().byRoute).toEqual({ 'POST /v1beta/models/sim-gemini:generateContent': 1 });
  });

  it('caps at maxOutputTokens with MAX_TOKENS and echoes the last user turn', async () => {
    const capped = json<GeminiResponse>(await generate(request({ generationConfig: { maxOutputTokens: 2 } })));
    expect(capped.candidates[0].finishReason).toBe('MAX_TOKENS');
    expect(capped.usageMetadata.candidatesTokenCount).toBe(2);
    sim.configure({ echo: true });
    const echoed = json<GeminiResponse>(await generate(request()));
    expect(echoed.candidates[0].content.parts[0].text).toBe('Say hello to the tests.');
  });

  it('streams SSE with CRLF framing: text pieces, then the finish reason and full usage, no terminal event', async () => {
    sim.configure({ echo: true, cachedTokens: 3 });
    const reply = await streamed(request({ contents: [{ role: 'user', parts: [{ text: 'one two three' }] }] }));
    expect(reply.status).toBe(200);
    expect(reply.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const chunks = sseChunks(reply.text) as GeminiResponse[];
    expect(chunks).toHaveLength(4);
    expect(chunks.map((c) => c.candidates[0].content.parts[0].text).join('')).toBe('one two three');
    expect(chunks.slice(0, -1).every((c) => c.candidates[0].finishReason === undefined)).toBe(true);
    expect(chunks[3].candidates[0].finishReason).toBe('STOP');
    expect(chunks[3].usageMetadata).toMatchObject({ candidatesTokenCount: 3, cachedContentTokenCount: 3 });
    expect(sim.stats().streams).toBe(1);
  });

  it('refuses streamGenerateContent without alt=sse, fields Gemini does not have, and empty contents', async () => {
    const noSse = await postJson(`${base}/models/sim-gemini:streamGenerateContent`, request(), key);
    expect(noSse.status).toBe(400);
    const unknown = await generate(request({ messages: [] }));
    expect(unknown.status).toBe(400);
    expect(json<GeminiError>(unknown).error).toMatchObject({
      code: 400,
      status: 'INVALID_ARGUMENT',
      message: expect.stringContaining('Unknown name "messages"'),
    });
    const badConfig = await generate(request({ generationConfig: { max_tokens: 5 } }));
    expect(json<GeminiError>(badConfig).error.message).toContain(`Unknown name "max_tokens" at 'generationConfig'`);
    const empty = await generate({ contents: [] });
    expect(json<GeminiError>(empty).error.message).toContain('contents is not specified');
    const role = await generate({ contents: [{ role: 'assistant', parts: [{ text: 'x' }] }] });
    expect(json<GeminiError>(role).error.message).toContain('valid role');
  });

  it('calls the first (or the forced) function with arguments from the prompt, whole in one stream event', async () => {
    const tools = [weatherTool];
    const call = json<GeminiResponse>(await generate(request({ tools })));
    expect(call.candidates[0]).toMatchObject({
      content: { parts: [{ functionCall: { name: 'weather', args: { city: 'Say hello to the tests.', days: 23 } } }] },
      finishReason: 'STOP',
    });
    const chunks = sseChunks((await streamed(request({ tools }))).text) as GeminiResponse[];
    expect(chunks).toHaveLength(2);
    expect(chunks[0].candidates[0].content.parts[0].functionCall).toEqual({
      name: 'weather',
      args: { city: 'Say hello to the tests.', days: 23 },
    });
    const none = json<GeminiResponse>(
      await generate(request({ tools, toolConfig: { functionCallingConfig: { mode: 'NONE' } } })),
    );
    expect(none.candidates[0].content.parts[0].text).toEqual(expect.any(String));
    const second = { name: 'clock', parameters: { type: 'object', properties: { zone: { type: 'string' } } } };
    const forced = json<GeminiResponse>(
      await generate(
        request({
          tools: [{ functionDeclarations: [...weatherTool.functionDeclarations, second] }],
          toolConfig: { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['clock'] } },
        }),
      ),
    );
    expect(forced.candidates[0].content.parts[0].functionCall?.name).toBe('clock');
  });

  it('answers a functionResponse in text, JSON mode by responseSchema, thoughts when asked for', async () => {
    const afterTool = json<GeminiResponse>(
      await generate({
        contents: [
          { role: 'user', parts: [{ text: 'Weather in Paris?' }] },
          { role: 'model', parts: [{ functionCall: { name: 'weather', args: { city: 'Paris' } } }] },
          { role: 'user', parts: [{ functionResponse: { name: 'weather', response: { content: 'sunny' } } }] },
        ],
        tools: [weatherTool],
      }),
    );
    expect(afterTool.candidates[0].content.parts[0].text).toBe('Tool result: sunny');
    const schema = { type: 'object', properties: { ok: { type: 'boolean' } } };
    const structured = json<GeminiResponse>(
      await generate(request({ generationConfig: { responseMimeType: 'application/json', responseSchema: schema } })),
    );
    expect(JSON.parse(structured.candidates[0].content.parts[0].text ?? '')).toEqual({ ok: true });
    const thinking = json<GeminiResponse>(
      await generate(request({ generationConfig: { thinkingConfig: { includeThoughts: true } } })),
    );
    expect(thinking.candidates[0].content.parts[0]).toEqual({
      text: 'Thinking about: Say hello to the tests.',
      thought: true,
    });
    expect(thinking.usageMetadata.thoughtsTokenCount).toBe(7);
  });

  it('fails like Gemini: google.rpc.Status bodies, RetryInfo instead of Retry-After on 429, 403 without a key', async () => {
    sim.configure({ failNext: 1, failStatus: [429], retryAfterS: 7 });
    const limited = await generate(request());
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBeNull();
    const err = json<GeminiError>(limited).error;
    expect(err).toMatchObject({ code: 429, status: 'RESOURCE_EXHAUSTED' });
    expect(err.details).toContainEqual({ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '7s' });

    sim.configure({ failNext: 1, failStatus: [503] });
    expect(json<GeminiError>(await generate(request())).error).toMatchObject({ code: 503, status: 'UNAVAILABLE' });

    sim.configure({ requireAuth: true });
    const anonymous = await postJson(`${base}/models/sim-gemini:generateContent`, request());
    expect(anonymous.status).toBe(403);
    expect(json<GeminiError>(anonymous).error.status).toBe('PERMISSION_DENIED');
    const byQuery = await postJson(`${base}/models/sim-gemini:generateContent?key=AIzaSy-q`, request());
    expect(byQuery.status).toBe(200);
    expect((await generate(request())).status).toBe(200);
  });

  it('lists models as models/<id>', async () => {
    sim.configure({ models: ['sim-gemini', 'sim-gemini-pro'] });
    const res = await fetch(`${base}/models?pageSize=1000`, { headers: key });
    const body = (await res.json()) as { models: { name: string; supportedGenerationMethods: string[] }[] };
    expect(body.models.map((m) => m.name)).toEqual(['models/sim-gemini', 'models/sim-gemini-pro']);
    expect(body.models[0].supportedGenerationMethods).toContain('generateContent');
  });

  it('ends a broken stream with an in-band error event', async () => {
    sim.configure({ failNext: 1, failMode: 'error_mid_stream', failAfterChunks: 2, failStatus: [500] });
    const res = await fetch(`${base}/models/sim-gemini:streamGenerateContent?alt=sse`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...key },
      body: JSON.stringify(request()),
    });
    const { text } = await readUntilBroken(res);
    const chunks = sseChunks(text) as (GeminiResponse | GeminiError)[];
    expect(chunks).toHaveLength(3);
    expect(chunks[2]).toMatchObject({ error: { code: 500, status: 'INTERNAL' } });
  });

  describe('with the gateway gemini adapter as the client', () => {
    it('generates and streams the same answer with the same usage', async () => {
      sim.configure({ echo: true, cachedTokens: 2 });
      const res = await adapter.generate(adapterRequest(), never);
      expect(res).toMatchObject({ text: 'one two three', finishReason: 'stop' });
      expect(res.usage).toMatchObject({ completionTokens: 3, cachedPromptTokens: 2 });
      const deltas = await collect(adapter.stream(adapterRequest(), never));
      expect(deltas.map((d) => d.text).join('')).toBe('one two three');
      expect(deltas.at(-1)).toMatchObject({ finishReason: 'stop', usage: res.usage });
      expect(await adapter.listModels(adapterRequest().target, never)).toEqual(DEFAULT_SIMULATOR_CONFIG.models);
    });

    it('turns a tool call into tool_calls and a 429 into a rate limit with the RetryInfo delay', async () => {
      const tools = [
        {
          type: 'function' as const,
          function: { name: 'weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
        },
      ];
      const res = await adapter.generate(adapterRequest({ tools }), never);
      expect(res.finishReason).toBe('tool_calls');
      expect(res.toolCalls).toEqual([
        {
          id: expect.stringMatching(/^call_[0-9a-f]{24}$/),
          type: 'function',
          function: { name: 'weather', arguments: '{"city":"one two three"}' },
        },
      ]);
      sim.configure({ failNext: 1, failStatus: [429], retryAfterS: 12 });
      const err = await adapter.generate(adapterRequest(), never).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ProviderCallError);
      expect(err).toMatchObject({ errorClass: ErrorClass.RateLimit, status: 429, retryAfterMs: 12_000 });
    });
  });
});
