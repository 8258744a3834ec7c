import { AdapterRegistry, type AdapterRequest, HttpPool, type ProviderAdapter } from '@aigw/adapters';
import { ErrorClass, ProviderCallError, type StreamDelta } from '@aigw/core';
import { DEFAULT_SIMULATOR_CONFIG, ProviderSimulator } from '@aigw/testing';
import { json, postJson, readUntilBroken } from './support';

interface OllamaLine {
  model: string;
  created_at: string;
  message: {
    role: string;
    content: string;
    thinking?: string;
    tool_calls?: { function: { name: string; arguments: unknown } }[];
  };
  done: boolean;
  done_reason?: string;
  prompt_eval_count?: number;
  eval_count?: number;
  total_duration?: number;
  error?: string;
}

const chat = (patch: Record<string, unknown> = {}): Record<string, unknown> => ({
  model: 'sim-llama',
  messages: [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: 'Say hello to the tests.' },
  ],
  stream: false,
  ...patch,
});

const PROMPT_TOKENS = Math.ceil(('You are terse.'.length + 'Say hello to the tests.'.length) / 4);

/** NDJSON: every line one JSON object, the body ending with a newline. */
function lines(text: string): OllamaLine[] {
  expect(text.endsWith('\n')).toBe(true);
  return text
    .slice(0, -1)
    .split('\n')
    .map((l) => JSON.parse(l) as OllamaLine);
}

async function collect(stream: AsyncIterable<StreamDelta>): Promise<StreamDelta[]> {
  const out: StreamDelta[] = [];
  for await (const d of stream) {
    out.push(d);
  }
  return out;
}

describe('simulator: Ollama native /api/chat', () => {
  const sim = new ProviderSimulator({ completionTokens: 4 });
  const pool = new HttpPool();
  const adapter: ProviderAdapter = new AdapterRegistry(pool).get('ollama');
  const never = new AbortController().signal;
  let endpoint: string;

  beforeAll(async () => {
    await sim.start();
    endpoint = `${sim.url}/api/chat`;
  });
  afterAll(async () => {
    await pool.destroy();
    await sim.stop();
  });
  beforeEach(() => {
    sim.configure({ ...DEFAULT_SIMULATOR_CONFIG, completionTokens: 4 });
    sim.reset();
  });

  const adapterRequest = (options: AdapterRequest['options'] = {}): AdapterRequest => ({
    target: { baseUrl: sim.url, model: 'sim-llama', timeoutMs: 5000, poolKey: 'ollama' },
    messages: [{ role: 'user', content: 'one two three' }],
    options,
  });

  it('answers stream:false with one object: message, done_reason and the counts', async () => {
    const reply = await postJson(endpoint, chat());
    expect(reply.status).toBe(200);
    expect(reply.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const body = json<OllamaLine>(reply);
    expect(body).toMatchObject({
      model: 'sim-llama',
      message: { role: 'assistant', content: expect.any(String) },
      done: true,
      done_reason: 'stop',
      prompt_eval_count: PROMPT_TOKENS,
      eval_count: 4,
    });
    expect(Number.isNaN(Date.parse(body.created_at))).toBe(false);
    expect(body.total_duration).toBeGreaterThan(0);
  });

  it('streams NDJSON by default: one line per piece, then a done line with the counts', async () => {
    sim.configure({ echo: true });
    const { stream: _omitted, ...body } = chat({ messages: [{ role: 'user', content: 'one two three' }] });
    const reply = await postJson(endpoint, body);
    expect(reply.headers.get('content-type')).toBe('application/x-ndjson');
    const all = lines(reply.text);
    expect(all).toHaveLength(4);
    expect(all.slice(0, 3).every((l) => !l.done)).toBe(true);
    expect(all.map((l) => l.message.content).join('')).toBe('one two three');
    expect(all[3]).toMatchObject({ done: true, done_reason: 'stop', message: { content: '' }, eval_count: 3 });
    expect(sim.stats().streams).toBe(1);
  });

  it('caps at options.num_predict with done_reason length', async () => {
    const body = json<OllamaLine>(await postJson(endpoint, chat({ options: { num_predict: 2 } })));
    expect(body).toMatchObject({ done_reason: 'length', eval_count: 2 });
    const bad = await postJson(endpoint, chat({ options: { num_predict: 'many' } }));
    expect(bad.status).toBe(400);
    expect(json(bad)).toEqual({ error: expect.stringContaining('num_predict') });
  });

  it('calls a tool whole (arguments an object), answers tool results, JSON by format, thinking by think', async () => {
    const tools = [
      {
        type: 'function',
        function: { name: 'weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
      },
    ];
    const call = json<OllamaLine>(await postJson(endpoint, chat({ tools })));
    expect(call.message).toEqual({
      role: 'assistant',
      content: '',
      tool_calls: [{ function: { name: 'weather', arguments: { city: 'Say hello to the tests.' } } }],
    });
    expect(call.done_reason).toBe('stop');
    const streamed = lines((await postJson(endpoint, chat({ tools, stream: true }))).text);
    expect(streamed).toHaveLength(2);
    expect(streamed[0].message.tool_calls?.[0].function.name).toBe('weather');

    const after = json<OllamaLine>(
      await postJson(
        endpoint,
        chat({
          tools,
          messages: [
            { role: 'user', content: 'Weather?' },
            { role: 'assistant', content: '', tool_calls: [{ function: { name: 'weather', arguments: {} } }] },
            { role: 'tool', content: 'sunny', tool_name: 'weather' },
          ],
        }),
      ),
    );
    expect(after.message.content).toBe('Tool result: sunny');
    const structured = json<OllamaLine>(await postJson(endpoint, chat({ format: 'json' })));
    expect(JSON.parse(structured.message.content)).toEqual({ answer: 'Say hello to the tests.' });
    const thinking = json<OllamaLine>(await postJson(endpoint, chat({ think: true })));
    expect(thinking.message.thinking).toBe('Thinking about: Say hello to the tests.');
  });

  it('fails with {"error": ...}: as a status, and in a stream as one more line', async () => {
    const noModel = await postJson(endpoint, { messages: [] });
    expect(noModel.status).toBe(400);
    expect(json(noModel)).toEqual({ error: 'model is required' });
    sim.configure({ failNext: 1, failStatus: [503], retryAfterS: 2 });
    const busy = await postJson(endpoint, chat());
    expect(busy.status).toBe(503);
    expect(json<{ error: string }>(busy).error).toEqual(expect.any(String));
    expect(busy.headers.get('retry-after')).toBe('2');

    sim.configure({ failNext: 1, failMode: 'error_mid_stream', failAfterChunks: 2, failStatus: [500] });
    const res = await fetch(endpoint, { method: 'POST', body: JSON.stringify(chat({ stream: true })) });
    const { text } = await readUntilBroken(res);
    const all = lines(text);
    expect(all).toHaveLength(3);
    expect(all[2]).toEqual({ error: expect.any(String) });
  });

  it('lists models from /api/tags with their tags', async () => {
    sim.configure({ models: ['sim-llama', 'qwen3:8b'] });
    const res = await fetch(`${sim.url}/api/tags`);
    const body = (await res.json()) as { models: { name: string; model: string; details: { format: string } }[] };
    expect(body.models.map((m) => m.name)).toEqual(['sim-llama:latest', 'qwen3:8b']);
    expect(body.models[0]).toMatchObject({ model: 'sim-llama:latest', details: { format: 'gguf' } });
  });

  describe('with the gateway ollama adapter as the client', () => {
    it('generates and streams the same answer with the same usage, and lists the tags', async () => {
      sim.configure({ echo: true });
      const res = await adapter.generate(adapterRequest(), never);
      expect(res).toMatchObject({ text: 'one two three', finishReason: 'stop' });
      expect(res.usage).toEqual({ promptTokens: 4, completionTokens: 3, totalTokens: 7, cachedPromptTokens: 0 });
      const deltas = await collect(adapter.stream(adapterRequest(), never));
      expect(deltas.map((d) => d.text).join('')).toBe('one two three');
      expect(deltas.at(-1)).toMatchObject({ finishReason: 'stop', usage: res.usage });
      expect(await adapter.listModels(adapterRequest().target, never)).toEqual(
        DEFAULT_SIMULATOR_CONFIG.models.map((m) => `${m}:latest`),
      );
      expect((await adapter.healthCheck(adapterRequest().target, never)).ok).toBe(true);
    });

    it('streams a tool call as tool_calls and reports a cut stream as a network failure', async () => {
      const tools = [{ type: 'function' as const, function: { name: 'weather', parameters: { type: 'object' } } }];
      const deltas = await collect(adapter.stream(adapterRequest({ tools }), never));
      expect(deltas.flatMap((d) => d.toolCalls ?? [])).toEqual([
        { index: 0, id: expect.stringMatching(/^call_[0-9a-f]{24}$/), name: 'weather', arguments: '{}' },
      ]);
      expect(deltas.at(-1)?.finishReason).toBe('tool_calls');
      sim.configure({ failNext: 1, failMode: 'drop_mid_stream', failAfterChunks: 1 });
      const err = await collect(adapter.stream(adapterRequest(), never)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ProviderCallError);
      expect((err as ProviderCallError).errorClass).toBe(ErrorClass.Network);
    });
  });
});
