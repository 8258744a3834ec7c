import {
  AdapterRegistry,
  type AdapterRequest,
  type AdapterTarget,
  HttpPool,
  type ProviderAdapter,
} from '@aigw/adapters';
import { ErrorClass } from '@aigw/core';
import type { ServerResponse } from 'node:http';
import { collect, failure } from './support/calls';
import { FakeUpstream, sendJson, sleep, sseEvent, startSse, within } from './support/fake-upstream';

const API_KEY = 'sk-ant-integration-secret-0002';

const MESSAGE = {
  id: 'msg_01',
  type: 'message',
  role: 'assistant',
  model: 'claude-test',
  content: [{ type: 'text', text: 'Bonjour' }],
  stop_reason: 'end_turn',
  stop_sequence: null,
  usage: { input_tokens: 5, cache_read_input_tokens: 40, cache_creation_input_tokens: 10, output_tokens: 3 },
};

function ev(type: string, body: Record<string, unknown> = {}): string {
  return sseEvent({ type, ...body }, type);
}

const STREAM_EVENTS = [
  ev('message_start', {
    message: {
      id: 'msg_s1',
      type: 'message',
      role: 'assistant',
      content: [],
      usage: { input_tokens: 7, cache_read_input_tokens: 20, cache_creation_input_tokens: 0, output_tokens: 1 },
    },
  }),
  ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
  ev('ping'),
  ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Bon' } }),
  ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'jour 👋' } }),
  ev('content_block_stop', { index: 0 }),
  ev('message_delta', { delta: { stop_reason: 'max_tokens', stop_sequence: null }, usage: { output_tokens: 4 } }),
  ev('message_stop'),
];

async function writeAll(res: ServerResponse, parts: string[], end = true): Promise<void> {
  startSse(res);
  for (const p of parts) {
    res.write(p);
    await sleep(2);
  }
  if (end) {
    res.end();
  }
}

describe('Anthropic adapter against a real HTTP server', () => {
  let up: FakeUpstream;
  let pool: HttpPool;
  let adapter: ProviderAdapter;
  let target: AdapterTarget;
  const never = new AbortController().signal;

  const request = (): AdapterRequest => ({
    target,
    messages: [
      { role: 'system', content: 'Answer in French.' },
      { role: 'user', content: 'Hello' },
      { role: 'user', content: 'Anyone there?' },
    ],
    options: { temperature: 0.5, stop: ['STOP'] },
  });

  beforeEach(async () => {
    up = await FakeUpstream.start();
    pool = new HttpPool();
    adapter = new AdapterRegistry(pool).get('anthropic');
    target = { baseUrl: up.origin, apiKey: API_KEY, model: 'claude-test', timeoutMs: 2000, poolKey: 'anthropic-test' };
  });

  afterEach(async () => {
    await pool.destroy();
    await up.close();
  });

  it('sends the Messages API request and reads a plain answer with cache usage and rate-limit headers', async () => {
    up.handler = (_req, res) =>
      sendJson(res, 200, MESSAGE, {
        'anthropic-ratelimit-requests-remaining': '49',
        'anthropic-ratelimit-tokens-remaining': '80000',
        'anthropic-ratelimit-requests-reset': new Date(Date.now() + 60_000).toISOString(),
      });
    const r = await adapter.generate(request(), never);
    expect(r).toMatchObject({ id: 'msg_01', text: 'Bonjour', finishReason: 'stop' });
    expect(r.usage).toEqual({
      promptTokens: 55,
      completionTokens: 3,
      totalTokens: 58,
      cachedPromptTokens: 40,
      cacheWritePromptTokens: 10,
    });
    expect(r.rateLimit?.remainingRequests).toBe(49);
    expect(r.rateLimit?.remainingTokens).toBe(80000);
    expect(r.rateLimit?.resetRequestsMs).toBeGreaterThan(0);

    const seen = up.requests[0];
    expect(seen.url).toBe('/v1/messages');
    expect(seen.headers['x-api-key']).toBe(API_KEY);
    expect(seen.headers['anthropic-version']).toBe('2023-06-01');
    expect(seen.headers['anthropic-beta']).toBeUndefined();
    expect(seen.headers.authorization).toBeUndefined();
    expect(JSON.parse(seen.body)).toEqual({
      model: 'claude-test',
      max_tokens: 4096,
      system: 'Answer in French.',
      messages: [{ role: 'user', content: 'Hello\n\nAnyone there?' }],
      temperature: 0.5,
      stop_sequences: ['STOP'],
    });
  });

  it("rewrites another family's tool call ids (Kimi's functions.get_weather:0) into ids Anthropic takes, call and result alike", async () => {
    up.handler = (_req, res) => sendJson(res, 200, MESSAGE);
    const ids = ['functions.get_weather:0', 'functions.get_weather:1', 'toolu_01AbC-d_e', 'call_9f__thought__c2lnbmVk'];
    await adapter.generate(
      {
        target,
        messages: [
          { role: 'user', content: 'Weather in Oslo, Rome and Nice?' },
          {
            role: 'assistant',
            content: null,
            tool_calls: ids.map((id) => ({
              id,
              type: 'function' as const,
              function: { name: 'get_weather', arguments: '{}' },
            })),
          },
          ...ids.map((id) => ({ role: 'tool' as const, tool_call_id: id, content: '12C' })),
        ],
        options: {},
      },
      never,
    );
    const [, assistant, results] = (
      JSON.parse(up.requests[0].body) as { messages: { content: { id?: string; tool_use_id?: string }[] }[] }
    ).messages;
    const uses = assistant.content.map((b) => b.id ?? '');
    // Anthropic's rule for tool_use ids; an id that already follows it is sent as it is.
    for (const id of uses) {
      expect(id).toMatch(/^[a-zA-Z0-9_-]+$/);
    }
    expect(uses[2]).toBe('toolu_01AbC-d_e');
    // A Gemini thought signature riding in an id is Gemini's alone.
    expect(uses[3]).toBe('call_9f');
    expect(new Set(uses).size).toBe(4);
    expect(results.content.map((b) => b.tool_use_id)).toEqual(uses);
  });

  it("sends OpenAI's file parts as document blocks: a PDF as base64, plain text as text, the file name as title", async () => {
    up.handler = (_req, res) => sendJson(res, 200, MESSAGE);
    const pdf = Buffer.from('%PDF-1.4 a report').toString('base64');
    const notes = Buffer.from('Notes: été 2026').toString('base64');
    await adapter.generate(
      {
        target,
        messages: [
          {
            role: 'user',
            content: [
              {
                type: 'file',
                file: { file_data: `data:application/pdf;base64,${pdf}`, filename: 'report.pdf' },
                cache_control: { type: 'ephemeral' },
              },
              { type: 'file', file: { file_data: `data:text/plain;charset=utf-8;base64,${notes}` } },
              { type: 'text', text: 'Summarise both.' },
            ],
          },
        ],
        options: {},
      },
      never,
    );
    expect((JSON.parse(up.requests[0].body) as { messages: unknown[] }).messages).toEqual([
      {
        role: 'user',
        content: [
          {
            type: 'document',
            source: { type: 'base64', media_type: 'application/pdf', data: pdf },
            title: 'report.pdf',
            cache_control: { type: 'ephemeral' },
          },
          { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'Notes: été 2026' } },
          { type: 'text', text: 'Summarise both.' },
        ],
      },
    ]);
  });

  it('refuses, without calling, a file part Claude cannot read: a file_id or another type', async () => {
    up.handler = (_req, res) => sendJson(res, 200, MESSAGE);
    for (const file of [{ file_id: 'file-abc123' }, { file_data: 'data:application/zip;base64,UEsDBA==' }]) {
      // The body is built before any I/O: the refusal may come before the promise.
      const err = await failure(
        Promise.resolve().then(() =>
          adapter.generate(
            { target, messages: [{ role: 'user', content: [{ type: 'file', file }] }], options: {} },
            never,
          ),
        ),
      );
      expect(err.errorClass).toBe(ErrorClass.InvalidRequest);
      expect(err.message).toMatch(/file_id|application\/zip/);
    }
    expect(up.requests).toHaveLength(0);
  });

  it("sends the client's beta features in anthropic-beta, whole and streamed", async () => {
    const betas = {
      ...request(),
      options: { anthropicBeta: ['interleaved-thinking-2025-05-14', 'context-1m-2025-08-07'] },
    };
    up.handler = (_req, res) => sendJson(res, 200, MESSAGE);
    await adapter.generate(betas, never);
    up.handler = (_req, res) => writeAll(res, STREAM_EVENTS);
    await within(5000, 'stream', collect(adapter.stream(betas, never)));
    expect(up.requests.map((r) => r.headers['anthropic-beta'])).toEqual([
      'interleaved-thinking-2025-05-14,context-1m-2025-08-07',
      'interleaved-thinking-2025-05-14,context-1m-2025-08-07',
    ]);
  });

  it('streams text deltas and ends with the mapped finish reason and usage', async () => {
    up.handler = (_req, res) => writeAll(res, STREAM_EVENTS);
    const deltas = await within(5000, 'stream', collect(adapter.stream(request(), never)));
    expect(deltas).toEqual([
      // message_start's counts ride on the first delta (the stream's start says its input tokens).
      {
        text: 'Bon',
        id: 'msg_s1',
        usage: { promptTokens: 27, completionTokens: 1, totalTokens: 28, cachedPromptTokens: 20 },
      },
      { text: 'jour 👋' },
      {
        text: '',
        finishReason: 'length',
        anthropicStopReason: 'max_tokens',
        usage: { promptTokens: 27, completionTokens: 4, totalTokens: 31, cachedPromptTokens: 20 },
      },
    ]);
    expect(JSON.parse(up.requests[0].body).stream).toBe(true);
  });

  it("takes a tool's input given whole in content_block_start when no input_json_delta follows (as the SDKs do)", async () => {
    const tool = (index: number, id: string, input: Record<string, unknown>) =>
      ev('content_block_start', { index, content_block: { type: 'tool_use', id, name: 'weather', input } });
    up.handler = (_req, res) =>
      writeAll(res, [
        ev('message_start', { message: { id: 'msg_t', usage: { input_tokens: 5, output_tokens: 1 } } }),
        // Some Anthropic-compatible servers stream no input_json_delta: the block starts with its whole input.
        tool(0, 'toolu_a', { city: 'Paris' }),
        ev('content_block_stop', { index: 0 }),
        // Anthropic's own: an empty placeholder, then the input in pieces.
        tool(1, 'toolu_b', {}),
        ev('content_block_delta', { index: 1, delta: { type: 'input_json_delta', partial_json: '{"city":"Rome"}' } }),
        ev('content_block_stop', { index: 1 }),
        // No input at all.
        tool(2, 'toolu_c', {}),
        ev('content_block_stop', { index: 2 }),
        ev('message_delta', { delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 9 } }),
        ev('message_stop'),
      ]);
    const deltas = await within(5000, 'stream', collect(adapter.stream(request(), never)));
    const args = new Map<number, string>();
    for (const p of deltas.flatMap((d) => d.toolCalls ?? [])) {
      args.set(p.index, (args.get(p.index) ?? '') + (p.arguments ?? ''));
    }
    expect([...args.entries()]).toEqual([
      [0, '{"city":"Paris"}'],
      [1, '{"city":"Rome"}'],
      [2, '{}'],
    ]);
  });

  it('says which stop sequence ended the answer, whole and streamed', async () => {
    up.handler = (_req, res) => sendJson(res, 200, { ...MESSAGE, stop_reason: 'stop_sequence', stop_sequence: 'STOP' });
    const whole = await adapter.generate(request(), never);
    expect(whole).toMatchObject({ finishReason: 'stop', stopSequence: 'STOP' });

    const events = STREAM_EVENTS.map((e) =>
      e.replace(
        '"stop_reason":"max_tokens","stop_sequence":null',
        '"stop_reason":"stop_sequence","stop_sequence":"STOP"',
      ),
    );
    up.handler = (_req, res) => writeAll(res, events);
    const deltas = await within(5000, 'stream', collect(adapter.stream(request(), never)));
    expect(deltas.at(-1)).toMatchObject({ finishReason: 'stop', stopSequence: 'STOP' });
  });

  it.each([
    ['overloaded_error', ErrorClass.Provider, true],
    ['rate_limit_error', ErrorClass.RateLimit, false],
    ['api_error', ErrorClass.Provider, false],
    // As its HTTP 404: the model is not served there (not retried, not held against the deployment, fallback allowed).
    ['not_found_error', ErrorClass.NotFound, false],
  ])('turns event: error (%s) into %s, overloaded: %s', async (type, expected, overloaded) => {
    up.handler = (_req, res) =>
      writeAll(res, [
        ...STREAM_EVENTS.slice(0, 4),
        sseEvent({ type: 'error', error: { type, message: 'Overloaded' } }, 'error'),
      ]);
    const e = await failure(collect(adapter.stream(request(), never)));
    expect(e.errorClass).toBe(expected);
    expect(e.message).toContain('Overloaded');
    // The router names a stream the provider cut for overload so (`overloaded_error` to Anthropic clients).
    expect(e.overloaded).toBe(overloaded);
  });

  it('yields the deltas that arrived in the same read as an error event before failing', async () => {
    const error = sseEvent({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }, 'error');
    up.handler = (_req, res) => writeAll(res, [[...STREAM_EVENTS.slice(0, 5), error].join('')]);
    const seen: string[] = [];
    const e = await failure(
      (async () => {
        for await (const d of adapter.stream(request(), never)) {
          seen.push(d.text);
        }
      })(),
    );
    expect(e.errorClass).toBe(ErrorClass.Provider);
    expect(seen.join('')).toBe('Bonjour 👋');
  });

  it('reports a stream that ends without message_stop as Network', async () => {
    up.handler = (_req, res) => writeAll(res, STREAM_EVENTS.slice(0, -1));
    const e = await failure(collect(adapter.stream(request(), never)));
    expect(e.errorClass).toBe(ErrorClass.Network);
    expect(e.message).toBe('stream ended before message_stop');
  });

  it('classifies HTTP errors in the Anthropic error shape', async () => {
    const answers: [number, string, string, ErrorClass][] = [
      [400, 'invalid_request_error', 'prompt is too long: 250000 tokens > 200000 maximum', ErrorClass.ContextLength],
      [400, 'invalid_request_error', 'max_tokens: Field required', ErrorClass.InvalidRequest],
      [401, 'authentication_error', 'invalid x-api-key', ErrorClass.Auth],
      [
        429,
        'rate_limit_error',
        'Number of request tokens has exceeded your per-minute rate limit',
        ErrorClass.RateLimit,
      ],
      [529, 'overloaded_error', 'Overloaded', ErrorClass.Provider],
      [404, 'not_found_error', 'model: claude-sonnet-9', ErrorClass.NotFound],
    ];
    for (const [status, type, message, expected] of answers) {
      up.handler = (_req, res) =>
        sendJson(
          res,
          status,
          { type: 'error', error: { type, message } },
          status === 429 ? { 'retry-after': '12' } : {},
        );
      const e = await failure(adapter.generate(request(), never));
      expect({ status: e.status, errorClass: e.errorClass }).toEqual({ status, errorClass: expected });
      expect(e.message).toContain(message);
      if (status === 429) {
        expect(e.retryAfterMs).toBe(12_000);
      }
    }
  });

  it('classifies an error in a 200 body by its type, not_found_error as not found like its 404', async () => {
    const answers: [string, ErrorClass][] = [
      ['not_found_error', ErrorClass.NotFound],
      ['rate_limit_error', ErrorClass.RateLimit],
      ['api_error', ErrorClass.Provider],
    ];
    for (const [type, expected] of answers) {
      up.handler = (_req, res) => sendJson(res, 200, { type: 'error', error: { type, message: 'model: claude-x' } });
      const e = await failure(adapter.generate(request(), never));
      expect({ type, errorClass: e.errorClass }).toEqual({ type, errorClass: expected });
    }
  });

  it('times out a hanging server as Timeout', async () => {
    up.handler = () => undefined;
    target = { ...target, timeoutMs: 1000 }; // long enough for the request to reach a loaded server first
    const e = await within(5000, 'timeout', failure(adapter.generate(request(), never)));
    expect(e.errorClass).toBe(ErrorClass.Timeout);
    await within(2000, 'server sees the request closed', up.requests[0].closed);
  });

  it('cancels mid-stream on caller abort; the server sees its request closed', async () => {
    up.handler = (_req, res) => writeAll(res, STREAM_EVENTS.slice(0, 4), false);
    const ac = new AbortController();
    const e = await within(
      5000,
      'abort',
      failure(
        (async () => {
          for await (const d of adapter.stream(request(), ac.signal)) {
            expect(d.text).toBe('Bon');
            ac.abort();
          }
        })(),
      ),
    );
    expect(e.errorClass).toBe(ErrorClass.Cancelled);
    await within(2000, 'server sees the request closed', up.requests[0].closed);
  });

  it('accepts a baseUrl that already ends in /v1', async () => {
    up.handler = (_req, res) => sendJson(res, 200, MESSAGE);
    target = { ...target, baseUrl: `${up.origin}/v1` };
    await adapter.generate(request(), never);
    expect(up.requests[0].url).toBe('/v1/messages');
  });

  it('lists models from GET /v1/models', async () => {
    up.handler = (_req, res) =>
      sendJson(res, 200, {
        data: [
          { type: 'model', id: 'claude-test' },
          { type: 'model', id: 'claude-other' },
        ],
        has_more: false,
      });
    expect(await adapter.listModels(target, never)).toEqual(['claude-test', 'claude-other']);
    expect(up.requests[0].url).toBe('/v1/models?limit=1000');
    expect(up.requests[0].headers['x-api-key']).toBe(API_KEY);
    expect((await adapter.healthCheck(target, never)).ok).toBe(true);
  });
});
