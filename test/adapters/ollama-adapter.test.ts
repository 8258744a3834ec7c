import {
  AdapterRegistry,
  type AdapterRequest,
  type AdapterTarget,
  HttpPool,
  type ProviderAdapter,
} from '@aigw/adapters';
import { ErrorClass, type ReasoningEffort } from '@aigw/core';
import type { ServerResponse } from 'node:http';
import { collect, failure, textOf } from './support/calls';
import { FakeUpstream, sendJson, sleep, within } from './support/fake-upstream';

/*
 * Ollama's native API (github.com/ollama/ollama docs/api.md): `POST /api/chat` answers one JSON object, or with
 * `stream: true` newline-delimited JSON (`application/x-ndjson`) ending with a `done: true` line holding
 * `done_reason`, `prompt_eval_count` and `eval_count`; errors are `{"error": "..."}`; `GET /api/tags` lists models.
 */

function ndjson(res: ServerResponse, lines: unknown[], end = true): Promise<void> {
  res.writeHead(200, { 'content-type': 'application/x-ndjson' });
  return (async () => {
    for (const l of lines) {
      // Split each line in two writes: the parser must join pieces.
      const text = `${JSON.stringify(l)}\n`;
      res.write(text.slice(0, 5));
      await sleep(1);
      res.write(text.slice(5));
    }
    if (end) {
      res.end();
    }
  })();
}

const line = (content: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  model: 'llama3.2',
  created_at: '2025-01-01T00:00:00.000Z',
  message: { role: 'assistant', content },
  done: false,
  ...extra,
});

describe('Ollama adapter against a real HTTP server', () => {
  let up: FakeUpstream;
  let pool: HttpPool;
  let adapter: ProviderAdapter;
  let target: AdapterTarget;
  const never = new AbortController().signal;

  beforeEach(async () => {
    up = await FakeUpstream.start();
    pool = new HttpPool();
    adapter = new AdapterRegistry(pool).get('ollama');
    target = { baseUrl: up.origin, model: 'llama3.2', timeoutMs: 2000, poolKey: 'o' };
  });

  afterEach(async () => {
    await pool.destroy();
    await up.close();
  });

  it('sends /api/chat with options, images and tool history, and reads tool calls and counts', async () => {
    up.handler = (_req, res) =>
      sendJson(res, 200, {
        ...line(''),
        message: {
          role: 'assistant',
          content: '',
          thinking: 'Need the weather.',
          tool_calls: [{ function: { name: 'weather', arguments: { city: 'Oslo' } } }],
        },
        done: true,
        done_reason: 'stop',
        prompt_eval_count: 26,
        eval_count: 9,
      });
    const req: AdapterRequest = {
      target,
      messages: [
        { role: 'system', content: 'Be brief.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is this?' },
            { type: 'image_url', image_url: { url: 'data:image/jpeg;base64,/9j/4AAQ' } },
          ],
        },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'call_x', type: 'function', function: { name: 'weather', arguments: '{"city":"Rome"}' } }],
        },
        { role: 'tool', tool_call_id: 'call_x', content: 'sunny' },
      ],
      options: {
        temperature: 0,
        maxTokens: 50,
        topP: 0.9,
        stop: ['\n\n'],
        seed: 3,
        tools: [{ type: 'function', function: { name: 'weather', parameters: { type: 'object' } } }],
        responseFormat: { type: 'json_object' },
      },
    };
    const r = await adapter.generate(req, never);
    expect(r).toMatchObject({ text: '', finishReason: 'tool_calls', reasoning: 'Need the weather.' });
    expect(r.created).toBe(1735689600);
    expect(r.toolCalls).toEqual([
      {
        id: expect.stringMatching(/^call_[0-9a-f]{24}$/),
        type: 'function',
        function: { name: 'weather', arguments: '{"city":"Oslo"}' },
      },
    ]);
    expect(r.usage).toEqual({ promptTokens: 26, completionTokens: 9, totalTokens: 35, cachedPromptTokens: 0 });
    const seen = up.requests[0];
    expect(seen.url).toBe('/api/chat');
    expect(seen.headers.authorization).toBeUndefined();
    expect(JSON.parse(seen.body)).toEqual({
      model: 'llama3.2',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'What is this?', images: ['/9j/4AAQ'] },
        {
          role: 'assistant',
          content: '',
          tool_calls: [{ function: { name: 'weather', arguments: { city: 'Rome' } } }],
        },
        { role: 'tool', content: 'sunny', tool_name: 'weather' },
      ],
      tools: [{ type: 'function', function: { name: 'weather', parameters: { type: 'object' } } }],
      format: 'json',
      options: { temperature: 0, top_p: 0.9, num_predict: 50, stop: ['\n\n'], seed: 3 },
      stream: false,
    });
  });

  it('streams NDJSON until done: true, with the finish reason and counts of the last line', async () => {
    up.handler = (_req, res) =>
      ndjson(res, [
        line('Hel'),
        line('lo ✨'),
        { ...line(''), done: true, done_reason: 'length', prompt_eval_count: 10, eval_count: 2 },
      ]);
    const req: AdapterRequest = { target, messages: [{ role: 'user', content: 'hi' }], options: { maxTokens: 2 } };
    const deltas = await within(5000, 'stream', collect(adapter.stream(req, never)));
    expect(textOf(deltas)).toBe('Hello ✨');
    expect(deltas[deltas.length - 1]).toEqual({
      text: '',
      finishReason: 'length',
      usage: { promptTokens: 10, completionTokens: 2, totalTokens: 12, cachedPromptTokens: 0 },
    });
    expect(JSON.parse(up.requests[0].body)).toMatchObject({ stream: true, options: { num_predict: 2 } });
  });

  it("gives the first delta the provider's created_at (the stream's created), as whole answers use it", async () => {
    up.handler = (_req, res) =>
      ndjson(res, [
        // A first line with nothing to pass on still dates the answer.
        line('', { created_at: '2024-06-01T12:00:05.123456789Z' }),
        line('Hi', { created_at: '2024-06-01T12:00:06.000000000Z' }),
        { ...line('', { created_at: '2024-06-01T12:00:07Z' }), done: true, done_reason: 'stop', eval_count: 1 },
      ]);
    const req: AdapterRequest = { target, messages: [{ role: 'user', content: 'hi' }], options: {} };
    const deltas = await within(5000, 'stream', collect(adapter.stream(req, never)));
    expect(deltas[0]).toEqual({ text: 'Hi', created: Date.parse('2024-06-01T12:00:05Z') / 1000 });
    expect(deltas.slice(1).every((d) => d.created === undefined)).toBe(true);

    // Without a readable created_at, nothing: the worker dates the stream by the first delta's arrival.
    up.handler = (_req, res) =>
      ndjson(res, [line('Hi', { created_at: 'soon' }), { ...line(''), done: true, done_reason: 'stop' }]);
    const undated = await within(5000, 'stream', collect(adapter.stream(req, never)));
    expect(undated.every((d) => d.created === undefined)).toBe(true);
  });

  it("sizes Ollama's context to the deployment's window (num_ctx), whole and streamed, and leaves it out without one", async () => {
    up.handler = (_req, res, seen) => {
      const streamed = (JSON.parse(seen.body) as { stream?: boolean }).stream === true;
      return streamed
        ? ndjson(res, [{ ...line('ok'), done: true, done_reason: 'stop' }])
        : sendJson(res, 200, { ...line('ok'), done: true, done_reason: 'stop' });
    };
    const req: AdapterRequest = {
      target: { ...target, contextWindow: 32_768 },
      messages: [{ role: 'user', content: 'hi' }],
      options: {},
    };
    await adapter.generate(req, never);
    await within(5000, 'stream', collect(adapter.stream(req, never)));
    await adapter.generate({ ...req, target }, never);
    const options = up.requests.map((r) => (JSON.parse(r.body) as { options: Record<string, unknown> }).options);
    expect(options[0]).toEqual({ num_ctx: 32_768 });
    expect(options[1]).toEqual({ num_ctx: 32_768 });
    expect(options[2]).toEqual({});
  });

  it('fails on an in-band error line and on a stream cut before done', async () => {
    up.handler = (_req, res) => ndjson(res, [line('a'), { error: 'an error was encountered while running the model' }]);
    const req: AdapterRequest = { target, messages: [{ role: 'user', content: 'hi' }], options: {} };
    const inBand = await failure(collect(adapter.stream(req, never)));
    expect(inBand.errorClass).toBe(ErrorClass.Provider);
    expect(inBand.message).toContain('an error was encountered');
    up.handler = (_req, res) => ndjson(res, [line('a')]);
    expect((await failure(collect(adapter.stream(req, never)))).errorClass).toBe(ErrorClass.Network);
  });

  it('classifies a missing model (404 {"error"}) as not found, whole and streamed, and refuses http image URLs before any call', async () => {
    // Ollama's own words (server/routes.go): a model not pulled is a 404 `{"error":"model \"x\" not found, try pulling
    // it first"}`. Not a provider fault to retry or to open the circuit with: the deployment names a model not there.
    up.handler = (_req, res) => sendJson(res, 404, { error: 'model "nope" not found, try pulling it first' });
    const err = await failure(
      adapter.generate({ target, messages: [{ role: 'user', content: 'x' }], options: {} }, never),
    );
    expect(err).toMatchObject({ errorClass: ErrorClass.NotFound, status: 404 });
    expect(err.message).toContain('model "nope" not found');
    const streamed = await failure(
      collect(adapter.stream({ target, messages: [{ role: 'user', content: 'x' }], options: {} }, never)),
    );
    expect(streamed).toMatchObject({ errorClass: ErrorClass.NotFound, status: 404 });
    const url = await failure(
      adapter.generate(
        {
          target,
          messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://x.test/a.png' } }] }],
          options: {},
        },
        never,
      ),
    );
    expect(url.errorClass).toBe(ErrorClass.InvalidRequest);
    expect(up.requests).toHaveLength(2);
  });

  /*
   * docs.ollama.com, Thinking: `think` is true/false, or a named level for a model that has levels: GPT-OSS takes
   * "low", "medium" (its default, what `true` means) and "high". Ollama's chat handler refuses a string for any other
   * model: 400 `think value "high" is not supported for this model` (server/routes.go, harmony parser only).
   */
  it("sends the effort as gpt-oss's thinking level, and as on/off to every other model", async () => {
    up.handler = (_req, res, seen) => {
      const body = JSON.parse(seen.body) as { model: string; think?: unknown };
      if (typeof body.think === 'string' && !body.model.includes('gpt-oss')) {
        sendJson(res, 400, { error: `think value "${body.think}" is not supported for this model` });
        return;
      }
      sendJson(res, 200, { ...line('ok'), done: true, done_reason: 'stop', prompt_eval_count: 5, eval_count: 1 });
    };
    const ask = (model: string, reasoningEffort: ReasoningEffort) =>
      adapter.generate(
        { target: { ...target, model }, messages: [{ role: 'user', content: 'hi' }], options: { reasoningEffort } },
        never,
      );
    const sent = () => (JSON.parse(up.requests[up.requests.length - 1].body) as { think?: unknown }).think;
    for (const [effort, level] of [
      ['minimal', 'low'],
      ['low', 'low'],
      ['medium', 'medium'],
      ['high', 'high'],
      ['xhigh', 'high'],
      ['none', false],
    ] as const) {
      await ask('gpt-oss:20b', effort);
      expect(sent()).toBe(level);
    }
    await ask('hf.co/unsloth/gpt-oss-20b-GGUF:Q4_K_M', 'high');
    expect(sent()).toBe('high');
    await ask('qwen3:8b', 'high');
    expect(sent()).toBe(true);
    await ask('qwen3:8b', 'none');
    expect(sent()).toBe(false);
    await ask('qwen3:8b', 'low');
    expect(sent()).toBe(true);
  });

  it('lists /api/tags and health-checks on it', async () => {
    up.handler = (_req, res) =>
      sendJson(res, 200, { models: [{ name: 'llama3.2:latest', model: 'llama3.2:latest', size: 2019393189 }] });
    expect(await adapter.listModels(target, never)).toEqual(['llama3.2:latest']);
    expect(await adapter.healthCheck(target, never)).toMatchObject({ ok: true });
    expect(up.requests.map((r) => `${r.method} ${r.url}`)).toEqual(['GET /api/tags', 'GET /api/tags']);
  });
});
