import {
  AdapterRegistry,
  type AdapterRequest,
  type AdapterTarget,
  HttpPool,
  type ProviderAdapter,
} from '@aigw/adapters';
import { ErrorClass } from '@aigw/core';
import type { ServerResponse } from 'node:http';
import { collect, failure, textOf } from './support/calls';
import { FakeUpstream, sendJson, sleep, sseEvent, startSse, waitFor, within } from './support/fake-upstream';

const API_KEY = 'sk-live-integration-secret-0001';

function completion(content: string) {
  return {
    id: 'chatcmpl-abc',
    object: 'chat.completion',
    created: 1_760_000_000,
    model: 'gpt-test',
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15, prompt_tokens_details: { cached_tokens: 8 } },
  };
}

function chunk(delta: Record<string, unknown>, finish: string | null = null) {
  return { id: 'chatcmpl-s1', object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: finish }] };
}

const USAGE_CHUNK = {
  id: 'chatcmpl-s1',
  object: 'chat.completion.chunk',
  choices: [],
  usage: { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11, prompt_tokens_details: { cached_tokens: 4 } },
};

/**
 * A well-behaved streamed answer, written in several TCP writes with the given pause between them; `endDelayMs`
 * holds back the end of the response after `[DONE]`, as a server flushing late would.
 */
async function streamAnswer(res: ServerResponse, pauseMs = 0, endDelayMs = 0): Promise<void> {
  startSse(res);
  const parts = [
    sseEvent(chunk({ role: 'assistant', content: '' })),
    sseEvent(chunk({ content: 'Hel' })),
    ': keep-alive\n\n',
    sseEvent(chunk({ content: 'lo ✓' })),
    sseEvent(chunk({}, 'stop')),
    sseEvent(USAGE_CHUNK),
    sseEvent('[DONE]'),
  ];
  for (const p of parts) {
    res.write(p);
    if (pauseMs > 0) {
      await sleep(pauseMs);
    }
  }
  if (endDelayMs > 0) {
    await sleep(endDelayMs);
  }
  res.end();
}

describe('OpenAI-compatible adapter against a real HTTP server', () => {
  let up: FakeUpstream;
  let pool: HttpPool;
  let registry: AdapterRegistry;
  let adapter: ProviderAdapter;
  let target: AdapterTarget;
  const never = new AbortController().signal;

  const request = (t: AdapterTarget = target): AdapterRequest => ({
    target: t,
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
    ],
    options: { temperature: 0.3, maxTokens: 50, topP: 1, stop: ['\n\n'] },
  });

  beforeEach(async () => {
    up = await FakeUpstream.start();
    pool = new HttpPool();
    registry = new AdapterRegistry(pool);
    adapter = registry.get('openai');
    target = {
      baseUrl: `${up.origin}/v1`,
      apiKey: API_KEY,
      model: 'gpt-test',
      timeoutMs: 2000,
      poolKey: 'openai-test',
    };
  });

  afterEach(async () => {
    await pool.destroy();
    await up.close();
  });

  it('sends a well-formed request and reads a plain answer with usage, cached tokens and rate-limit headers', async () => {
    up.handler = (_req, res) =>
      sendJson(res, 200, completion('Hello!'), {
        'x-ratelimit-remaining-requests': '99',
        'x-ratelimit-remaining-tokens': '9000',
        'x-ratelimit-reset-requests': '1s',
        'x-ratelimit-reset-tokens': '6m0s',
      });
    const r = await adapter.generate(request(), never);
    expect(r).toEqual({
      id: 'chatcmpl-abc',
      created: 1_760_000_000,
      text: 'Hello!',
      finishReason: 'stop',
      usage: { promptTokens: 12, completionTokens: 3, totalTokens: 15, cachedPromptTokens: 8 },
      rateLimit: { remainingRequests: 99, remainingTokens: 9000, resetRequestsMs: 1000, resetTokensMs: 360_000 },
    });
    const seen = up.requests[0];
    expect(seen.method).toBe('POST');
    expect(seen.url).toBe('/v1/chat/completions');
    expect(seen.headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect(seen.headers['content-type']).toBe('application/json');
    expect(JSON.parse(seen.body)).toEqual({
      model: 'gpt-test',
      messages: request().messages,
      temperature: 0.3,
      max_tokens: 50,
      top_p: 1,
      stop: ['\n\n'],
    });
  });

  it('sends the images of tool results after them as a user turn (OpenAI tool messages take text only)', async () => {
    up.handler = (_req, res) => sendJson(res, 200, completion('A cat.'));
    const shot = { type: 'image_url' as const, image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } };
    const call = (id: string) => ({ id, type: 'function' as const, function: { name: 'screenshot', arguments: '{}' } });
    await adapter.generate(
      {
        target,
        messages: [
          { role: 'user', content: 'What is on both screens?' },
          { role: 'assistant', content: null, tool_calls: [call('call_1'), call('call_2')] },
          { role: 'tool', tool_call_id: 'call_1', content: [{ type: 'text', text: 'left' }, shot] },
          { role: 'tool', tool_call_id: 'call_2', content: [shot] },
          { role: 'user', content: 'Describe them.' },
        ],
        options: {},
      },
      never,
    );
    expect((JSON.parse(up.requests[0].body) as { messages: unknown[] }).messages.slice(2)).toEqual([
      { role: 'tool', tool_call_id: 'call_1', content: [{ type: 'text', text: 'left' }] },
      { role: 'tool', tool_call_id: 'call_2', content: '' },
      { role: 'user', content: [shot, shot] },
      { role: 'user', content: 'Describe them.' },
    ]);
  });

  it("sends the client's anthropic-beta features to a gateway in front of Claude only, whole and streamed", async () => {
    const betas = { anthropicBeta: ['interleaved-thinking-2025-05-14', 'context-1m-2025-08-07'] };
    const claude: AdapterTarget = { ...target, signedThinking: true, cacheMarks: true, claudeOptions: true };
    up.handler = (_req, res) => sendJson(res, 200, completion('ok'));
    await adapter.generate({ ...request(claude), options: betas }, never);
    await adapter.generate({ ...request(), options: betas }, never);
    up.handler = (_req, res) => void streamAnswer(res);
    await within(5000, 'stream', collect(adapter.stream({ ...request(claude), options: betas }, never)));
    await within(5000, 'stream', collect(adapter.stream({ ...request(), options: betas }, never)));
    expect(up.requests.map((r) => r.headers['anthropic-beta'])).toEqual([
      'interleaved-thinking-2025-05-14,context-1m-2025-08-07',
      // Any other OpenAI-compatible server (OpenAI itself among them) has no use for Anthropic's flags.
      undefined,
      'interleaved-thinking-2025-05-14,context-1m-2025-08-07',
      undefined,
    ]);
  });

  it("refuses what Claude refuses with thinking on before calling a gateway in front of Claude, as Claude's own adapter does", async () => {
    const claude: AdapterTarget = { ...target, signedThinking: true, cacheMarks: true, claudeOptions: true };
    up.handler = (_req, res) => sendJson(res, 200, completion('ok'));
    // `/v1/messages`' `thinking: {type: "enabled", budget_tokens: 2048}` with a temperature Claude refuses beside it.
    const thinking = { maxTokens: 4096, reasoningEffort: 'low' as const, reasoningBudget: 2048, temperature: 0.5 };
    const viaGateway = { ...request(claude), options: thinking };
    // Both adapters refuse as they build the body, before any call (the router takes a throw as a call not made).
    const refusal = (call: () => Promise<unknown>) => failure(Promise.resolve().then(call));
    const whole = await refusal(() => adapter.generate(viaGateway, never));
    const streamed = await refusal(() => collect(adapter.stream(viaGateway, never)));
    const direct = await refusal(() =>
      registry.get('anthropic').generate({ ...viaGateway, target: { ...target, baseUrl: up.origin } }, never),
    );
    for (const e of [whole, streamed, direct]) {
      expect(e).toMatchObject({ errorClass: ErrorClass.InvalidRequest, untranslatable: true, param: 'temperature' });
      expect(e.message).toBe(direct.message);
    }
    // Never sent: routing moves on to another deployment, and the gateway's circuit is not charged for it.
    expect(up.requests).toHaveLength(0);
    // The same request without thinking goes to the gateway as it came.
    await adapter.generate({ ...request(claude), options: { ...thinking, reasoningEffort: 'none' } }, never);
    expect(JSON.parse(up.requests[0].body)).toMatchObject({ temperature: 0.5 });
  });

  it('sends no authorization header without a key', async () => {
    up.handler = (_req, res) => sendJson(res, 200, completion('ok'));
    await adapter.generate(request({ ...target, apiKey: undefined }), never);
    expect(up.requests[0].headers.authorization).toBeUndefined();
  });

  it('streams deltas, the finish reason and the final usage chunk', async () => {
    up.handler = (_req, res) => streamAnswer(res, 5);
    const deltas = await within(5000, 'stream', collect(adapter.stream(request(), never)));
    expect(deltas).toEqual([
      { text: 'Hel', id: 'chatcmpl-s1' },
      { text: 'lo ✓' },
      { text: '', finishReason: 'stop' },
      { text: '', usage: { promptTokens: 9, completionTokens: 2, totalTokens: 11, cachedPromptTokens: 4 } },
    ]);
    const body = JSON.parse(up.requests[0].body);
    expect(body.stream).toBe(true);
    expect(body.stream_options).toEqual({ include_usage: true });
  });

  it("passes on the provider's created time and system_fingerprint with the first delta", async () => {
    up.handler = (_req, res) => {
      startSse(res);
      const stamped = (delta: Record<string, unknown>, finish: string | null = null) => ({
        ...chunk(delta, finish),
        created: 1_700_000_123,
        system_fingerprint: 'fp_up_1',
      });
      res.write(sseEvent(stamped({ role: 'assistant', content: '' })));
      res.write(sseEvent(stamped({ content: 'Hi' })));
      res.write(sseEvent(stamped({}, 'stop')));
      res.end(sseEvent('[DONE]'));
    };
    const deltas = await within(5000, 'stream', collect(adapter.stream(request(), never)));
    expect(deltas).toEqual([
      { text: 'Hi', id: 'chatcmpl-s1', created: 1_700_000_123, systemFingerprint: 'fp_up_1' },
      { text: '', finishReason: 'stop' },
    ]);
  });

  describe('numbers streamed parallel tool calls as OpenAI does, whatever the server sent', () => {
    const call = (id: string | undefined, name: string | undefined, args: string, index?: number) => ({
      ...(index === undefined ? {} : { index }),
      ...(id === undefined ? {} : { id, type: 'function' }),
      function: { ...(name === undefined ? {} : { name }), arguments: args },
    });
    const streamOf = (fragments: Record<string, unknown>[]) => (_req: unknown, res: ServerResponse) => {
      startSse(res);
      for (const f of fragments) {
        res.write(sseEvent(chunk({ tool_calls: [f] })));
      }
      res.write(sseEvent(chunk({}, 'tool_calls')));
      res.end(sseEvent('[DONE]'));
    };
    const callsOf = async () => {
      const deltas = await collect(adapter.stream({ ...request(), options: {} }, never));
      return deltas.flatMap((d) => d.toolCalls ?? []);
    };
    const TWO_CALLS = [
      { index: 0, id: 'call_a', name: 'get_weather', arguments: '{"city":"Paris"}' },
      { index: 1, id: 'call_b', name: 'get_time', arguments: '{"tz":"CET"}' },
    ];

    it("each call whole without an index (Google's OpenAI-compatible endpoint): two calls, not one", async () => {
      up.handler = streamOf([
        call('call_a', 'get_weather', '{"city":"Paris"}'),
        call('call_b', 'get_time', '{"tz":"CET"}'),
      ]);
      expect(await callsOf()).toEqual(TWO_CALLS);
    });

    it('every call at index 0 (some Ollama proxies): a new id starts a new call', async () => {
      up.handler = streamOf([
        call('call_a', 'get_weather', '{"city":', 0),
        call(undefined, undefined, '"Paris"}', 0),
        call('call_b', 'get_time', '{"tz":', 0),
        call(undefined, undefined, '"CET"}', 0),
      ]);
      expect(await callsOf()).toEqual([
        { index: 0, id: 'call_a', name: 'get_weather', arguments: '{"city":' },
        { index: 0, arguments: '"Paris"}' },
        { index: 1, id: 'call_b', name: 'get_time', arguments: '{"tz":' },
        { index: 1, arguments: '"CET"}' },
      ]);
    });

    it('the id and name repeated in every fragment go out once, so the name is not doubled', async () => {
      up.handler = streamOf([
        call('call_a', 'get_weather', '{"city":', 0),
        call('call_a', 'get_weather', '"Paris"}', 0),
      ]);
      expect(await callsOf()).toEqual([
        { index: 0, id: 'call_a', name: 'get_weather', arguments: '{"city":' },
        { index: 0, arguments: '"Paris"}' },
      ]);
    });

    it('a call that comes without an id (some servers give none past the first call) gets one made up', async () => {
      up.handler = streamOf([
        call('call_a', 'get_weather', '{"city":', 0),
        call(undefined, 'get_time', '{"tz":', 1),
        call(undefined, undefined, '"Paris"}', 0),
        call(undefined, undefined, '"CET"}', 1),
      ]);
      const calls = await callsOf();
      expect(calls).toEqual([
        { index: 0, id: 'call_a', name: 'get_weather', arguments: '{"city":' },
        { index: 1, id: expect.stringMatching(/^call_[0-9a-f]{24}$/), name: 'get_time', arguments: '{"tz":' },
        { index: 0, arguments: '"Paris"}' },
        { index: 1, arguments: '"CET"}' },
      ]);
      // Whole answers too.
      up.handler = (_req, res) =>
        sendJson(res, 200, {
          ...completion(''),
          choices: [
            {
              index: 0,
              message: {
                role: 'assistant',
                content: null,
                tool_calls: [
                  { type: 'function', function: call(undefined, 'f', '{}').function },
                  // Google's endpoint signs a call in extra_content; a made-up id carries it as a given one does.
                  {
                    type: 'function',
                    function: call(undefined, 'g', '{}').function,
                    extra_content: { google: { thought_signature: 'c2lnbmVk' } },
                  },
                ],
              },
              finish_reason: 'tool_calls',
            },
          ],
        });
      const whole = await adapter.generate({ ...request(), options: {} }, never);
      expect(whole.toolCalls?.[0].id).toMatch(/^call_[0-9a-f]{24}$/);
      expect(whole.toolCalls?.[1].id).toMatch(/^call_[0-9a-f]{24}__thought__c2lnbmVk$/);
    });

    it('a new id on the fragments after the first, without a name (Poolside, mlx-openai-server), continues the call', async () => {
      // The first fragment has the call's id and name; later ones of the same index carry another id and arguments.
      up.handler = streamOf([
        call('call_a', 'get_weather', '', 0),
        call('call_x1', undefined, '{"city":', 0),
        call('call_x1', undefined, '"Paris"}', 0),
        call('call_b', 'get_time', '{"tz":', 1),
        call('call_y2', undefined, '"CET"}', 1),
      ]);
      expect(await callsOf()).toEqual([
        { index: 0, id: 'call_a', name: 'get_weather' },
        { index: 0, arguments: '{"city":' },
        { index: 0, arguments: '"Paris"}' },
        { index: 1, id: 'call_b', name: 'get_time', arguments: '{"tz":' },
        { index: 1, arguments: '"CET"}' },
      ]);
    });

    it("OpenAI's own interleaved fragments keep their numbering", async () => {
      up.handler = streamOf([
        call('call_a', 'get_weather', '', 0),
        call('call_b', 'get_time', '', 1),
        call(undefined, undefined, '{"city":', 0),
        call(undefined, undefined, '{"tz":', 1),
        call(undefined, undefined, '"Paris"}', 0),
        call(undefined, undefined, '"CET"}', 1),
      ]);
      expect(await callsOf()).toEqual([
        { index: 0, id: 'call_a', name: 'get_weather' },
        { index: 1, id: 'call_b', name: 'get_time' },
        { index: 0, arguments: '{"city":' },
        { index: 1, arguments: '{"tz":' },
        { index: 0, arguments: '"Paris"}' },
        { index: 1, arguments: '"CET"}' },
      ]);
    });
  });

  it('classifies 429 with Retry-After as RateLimit', async () => {
    up.handler = (_req, res) =>
      sendJson(
        res,
        429,
        { error: { message: 'Rate limit reached for requests', type: 'requests', code: 'rate_limit_exceeded' } },
        {
          'retry-after': '3',
        },
      );
    const e = await failure(adapter.generate(request(), never));
    expect(e.errorClass).toBe(ErrorClass.RateLimit);
    expect(e.status).toBe(429);
    expect(e.retryAfterMs).toBe(3000);
    expect(e.message).toContain('Rate limit reached for requests');
  });

  it('classifies 500 as Provider, for streams too', async () => {
    up.handler = (_req, res) => sendJson(res, 500, { error: { message: 'The server had an error' } });
    const e = await failure(adapter.generate(request(), never));
    expect(e.errorClass).toBe(ErrorClass.Provider);
    expect(e.status).toBe(500);
    const s = await failure(collect(adapter.stream(request(), never)));
    expect(s.errorClass).toBe(ErrorClass.Provider);
    expect(s.status).toBe(500);
  });

  it('classifies 401 as Auth without leaking the key the provider echoed', async () => {
    up.handler = (_req, res) =>
      sendJson(res, 401, { error: { message: `Incorrect API key provided: ${API_KEY}.`, code: 'invalid_api_key' } });
    const e = await failure(adapter.generate(request(), never));
    expect(e.errorClass).toBe(ErrorClass.Auth);
    expect(e.message).not.toContain(API_KEY);
    expect(e.message).not.toContain('integration-secret');
  });

  it('classifies a 400 context-length error as ContextLength', async () => {
    up.handler = (_req, res) =>
      sendJson(res, 400, {
        error: {
          message:
            "This model's maximum context length is 8192 tokens. However, your messages resulted in 9100 tokens.",
          type: 'invalid_request_error',
          param: 'messages',
          code: 'context_length_exceeded',
        },
      });
    const e = await failure(adapter.generate(request(), never));
    expect(e.errorClass).toBe(ErrorClass.ContextLength);
    expect(e.message).toContain('maximum context length is 8192');
  });

  it('classifies a 200 with a malformed JSON body as Provider', async () => {
    up.handler = (_req, res) => sendJson(res, 200, '{"id": "x", "choices": [');
    const e = await failure(adapter.generate(request(), never));
    expect(e.errorClass).toBe(ErrorClass.Provider);
    expect(e.status).toBe(200);
  });

  it('classifies a connection destroyed before the response as Network', async () => {
    up.handler = (req) => {
      req.socket.destroy();
    };
    expect((await failure(adapter.generate(request(), never))).errorClass).toBe(ErrorClass.Network);
    expect((await failure(collect(adapter.stream(request(), never)))).errorClass).toBe(ErrorClass.Network);
  });

  it('classifies a connection destroyed mid-stream as Network, after the deltas that did arrive', async () => {
    up.handler = async (req, res) => {
      startSse(res);
      res.write(sseEvent(chunk({ content: 'partial' })));
      await sleep(20);
      req.socket.destroy();
    };
    const got: string[] = [];
    const e = await failure(
      (async () => {
        for await (const d of adapter.stream(request(), never)) {
          got.push(d.text);
        }
      })(),
    );
    expect(got).toEqual(['partial']);
    expect(e.errorClass).toBe(ErrorClass.Network);
  });

  it('reports a stream that ends cleanly without [DONE] as Network', async () => {
    up.handler = (_req, res) => {
      startSse(res);
      res.end(sseEvent(chunk({ content: 'cut' })));
    };
    const e = await failure(collect(adapter.stream(request(), never)));
    expect(e.errorClass).toBe(ErrorClass.Network);
    expect(e.message).toBe('stream ended before [DONE]');
  });

  it('completes a stream that ends without [DONE] after its finish reason (and usage), as the SDKs do', async () => {
    up.handler = (_req, res) => {
      startSse(res);
      res.write(sseEvent(chunk({ content: 'whole ' })));
      res.write(sseEvent(chunk({ content: 'answer' })));
      res.write(sseEvent(chunk({}, 'length')));
      res.end(sseEvent(USAGE_CHUNK));
    };
    const deltas = await collect(adapter.stream(request(), never));
    expect(textOf(deltas)).toBe('whole answer');
    expect(deltas.some((d) => d.finishReason === 'length')).toBe(true);
    expect(deltas.some((d) => d.usage?.completionTokens === 2)).toBe(true);
  });

  it('completes a stream that ends without [DONE] and without a usage chunk after its finish reason', async () => {
    up.handler = (_req, res) => {
      startSse(res);
      res.write(sseEvent(chunk({ content: 'done' })));
      res.end(sseEvent(chunk({}, 'stop')));
    };
    const deltas = await collect(adapter.stream(request(), never));
    expect(textOf(deltas)).toBe('done');
    expect(deltas.at(-1)?.finishReason).toBe('stop');
  });

  it('fails vLLM\'s stream the engine aborted (finish_reason "abort", then usage and [DONE]) after what arrived, charged with its usage', async () => {
    // vLLM (entrypoints/openai serving_chat): an engine-side abort ends the stream with finish_reason "abort" in the
    // last choice chunk, the usage chunk (stream_options.include_usage) and an unconditional [DONE].
    up.handler = (_req, res) => {
      startSse(res);
      res.write(sseEvent(chunk({ role: 'assistant', content: '' })));
      res.write(sseEvent(chunk({ content: 'The answer is' })));
      res.write(sseEvent(chunk({}, 'abort')));
      res.write(sseEvent(USAGE_CHUNK));
      res.end(sseEvent('[DONE]'));
    };
    const seen: string[] = [];
    const finishes: unknown[] = [];
    const e = await failure(
      (async () => {
        for await (const d of adapter.stream(request(), never)) {
          seen.push(d.text);
          finishes.push(d.finishReason);
        }
      })(),
    );
    expect(seen.join('')).toBe('The answer is');
    expect(finishes.filter((f) => f !== undefined)).toEqual([]);
    expect(e).toMatchObject({
      errorClass: ErrorClass.Provider,
      charged: { promptTokens: 9, completionTokens: 2, totalTokens: 11, cachedPromptTokens: 4 },
    });
    expect(e.message).toContain('"abort"');

    // Whole: the cut text is no answer either.
    up.handler = (_req, res) =>
      sendJson(res, 200, {
        ...completion('The answer is'),
        choices: [{ index: 0, message: { role: 'assistant', content: 'The answer is' }, finish_reason: 'abort' }],
      });
    const whole = await failure(adapter.generate(request(), never));
    expect(whole).toMatchObject({
      errorClass: ErrorClass.Provider,
      charged: { promptTokens: 12, completionTokens: 3 },
    });
  });

  it('throws Provider for an error payload mid-stream', async () => {
    up.handler = (_req, res) => {
      startSse(res);
      res.write(sseEvent(chunk({ content: 'a' })));
      res.end(sseEvent({ error: { message: 'model overloaded mid-way', type: 'server_error' } }));
    };
    const e = await failure(collect(adapter.stream(request(), never)));
    expect(e.errorClass).toBe(ErrorClass.Provider);
    expect(e.message).toContain('model overloaded mid-way');
  });

  it("throws Provider for a bare error object mid-stream (vLLM's ErrorResponse shape), not a truncated answer", async () => {
    up.handler = (_req, res) => {
      startSse(res);
      res.write(sseEvent(chunk({ content: 'a' })));
      res.write(sseEvent({ object: 'error', message: 'CUDA out of memory', type: 'InternalServerError', code: 500 }));
      res.end(sseEvent('[DONE]'));
    };
    const e = await failure(collect(adapter.stream(request(), never)));
    expect(e.errorClass).toBe(ErrorClass.Provider);
    expect(e.message).toContain('CUDA out of memory');
  });

  it.each([
    // llama.cpp's server writes a streamed error as an `error:` field, which SSE itself ignores, and then [DONE].
    ["llama.cpp's `error:` line", `error: ${JSON.stringify({ code: 500, message: 'context shift is disabled' })}\n\n`],
    ['an error event with plain text', 'event: error\ndata: context shift is disabled\n\n'],
  ])('throws Provider for %s mid-stream (then [DONE]), not a truncated answer', async (_shape, error) => {
    up.handler = (_req, res) => {
      startSse(res);
      res.write(sseEvent(chunk({ content: 'a' })));
      res.end(error + sseEvent('[DONE]'));
    };
    const seen: string[] = [];
    const e = await failure(
      (async () => {
        for await (const d of adapter.stream(request(), never)) {
          seen.push(d.text);
        }
      })(),
    );
    expect(e.errorClass).toBe(ErrorClass.Provider);
    expect(e.message).toContain('context shift is disabled');
    expect(seen.join('')).toBe('a');
  });

  it('times out a hanging server as Timeout and closes the upstream request', async () => {
    up.handler = () => undefined; // never answers
    const e = await within(5000, 'timeout', failure(adapter.generate(request({ ...target, timeoutMs: 1000 }), never)));
    expect(e.errorClass).toBe(ErrorClass.Timeout);
    await within(2000, 'server sees the request closed', up.requests[0].closed);
  });

  it('times out a stream that goes silent as Timeout', async () => {
    up.handler = (_req, res) => {
      startSse(res);
      res.write(sseEvent(chunk({ content: 'first' })));
    };
    const e = await within(
      5000,
      'idle',
      failure(collect(adapter.stream(request({ ...target, timeoutMs: 1000 }), never))),
    );
    expect(e.errorClass).toBe(ErrorClass.Timeout);
    await within(2000, 'server sees the request closed', up.requests[0].closed);
  });

  it('keeps a stream that keeps flowing alive past timeoutMs', async () => {
    // Gaps of ~20 ms against a 500 ms idle timeout, for well over 500 ms in total.
    up.handler = async (_req, res) => {
      startSse(res);
      for (let i = 0; i < 40; i++) {
        res.write(sseEvent(chunk({ content: '.' })));
        await sleep(20);
      }
      res.end(sseEvent('[DONE]'));
    };
    const started = Date.now();
    const deltas = await within(
      10_000,
      'slow stream',
      collect(adapter.stream(request({ ...target, timeoutMs: 500 }), never)),
    );
    expect(textOf(deltas)).toBe('.'.repeat(40));
    expect(Date.now() - started).toBeGreaterThan(500);
  });

  it('reports Cancelled when the caller aborts before the answer, and the server sees the request closed', async () => {
    up.handler = () => undefined;
    const ac = new AbortController();
    const p = failure(adapter.generate(request(), ac.signal));
    await within(
      2000,
      'request arrives',
      waitFor(() => up.requests.length === 1),
    );
    ac.abort();
    expect((await within(2000, 'abort', p)).errorClass).toBe(ErrorClass.Cancelled);
    await within(2000, 'server sees the request closed', up.requests[0].closed);
  });

  it('stops reading when the caller aborts mid-stream: Cancelled, and the server sees its request closed', async () => {
    up.handler = async (_req, res, seen) => {
      startSse(res);
      for (let i = 0; i < 500 && !seen.abortedEarly(); i++) {
        res.write(sseEvent(chunk({ content: `t${i} ` })));
        await sleep(10);
      }
      res.end();
    };
    const ac = new AbortController();
    let received = 0;
    const e = await within(
      5000,
      'aborted stream',
      failure(
        (async () => {
          for await (const _ of adapter.stream(request(), ac.signal)) {
            received++;
            if (received === 3) {
              ac.abort();
            }
          }
        })(),
      ),
    );
    expect(e.errorClass).toBe(ErrorClass.Cancelled);
    expect(received).toBe(3);
    await within(2000, 'server sees the request closed', up.requests[0].closed);
    expect(up.requests[0].abortedEarly()).toBe(true);
  });

  it('cancels the upstream request when the consumer stops iterating', async () => {
    up.handler = async (_req, res, seen) => {
      startSse(res);
      for (let i = 0; i < 500 && !seen.abortedEarly(); i++) {
        res.write(sseEvent(chunk({ content: `t${i} ` })));
        await sleep(10);
      }
      res.end();
    };
    for await (const d of adapter.stream(request(), never)) {
      expect(d.text).toBe('t0 ');
      break;
    }
    await within(2000, 'server sees the request closed', up.requests[0].closed);
    expect(up.requests[0].abortedEarly()).toBe(true);
  });

  it('reuses one keep-alive connection for sequential calls, streamed or not', async () => {
    // undici hands a socket back one event-loop turn after its response completed (its guard against servers that
    // close despite keep-alive), and a finished stream's tail (here held back 30 ms after [DONE]) is drained in the
    // background rather than cut: "sequential" here means each call starts once the previous one has released its
    // socket, as calls spaced by real work do.
    const released = (): Promise<void> =>
      within(
        2000,
        'socket released',
        waitFor(() => pool.stats().every((s) => s.free === s.connected && s.running === 0)),
      );
    up.handler = (_req, res, seen) =>
      JSON.parse(seen.body).stream === true ? streamAnswer(res, 0, 30) : sendJson(res, 200, completion('x'));
    for (let i = 0; i < 3; i++) {
      await adapter.generate(request(), never);
      await released();
      expect(textOf(await collect(adapter.stream(request(), never)))).toBe('Hello ✓');
      await released();
    }
    // An error answer is read to the end, so it does not cost the connection either.
    up.handler = (_req, res) => sendJson(res, 429, { error: { message: 'slow down' } });
    await failure(adapter.generate(request(), never));
    await released();
    up.handler = (_req, res) => sendJson(res, 200, completion('x'));
    await adapter.generate(request(), never);
    expect(up.requests).toHaveLength(8);
    expect(up.connections).toBe(1);
  });

  it('sends nothing when the caller aborted before the call', async () => {
    up.handler = (_req, res) => sendJson(res, 200, completion('x'));
    const ac = new AbortController();
    ac.abort();
    expect((await failure(adapter.generate(request(), ac.signal))).errorClass).toBe(ErrorClass.Cancelled);
    expect((await failure(collect(adapter.stream(request(), ac.signal)))).errorClass).toBe(ErrorClass.Cancelled);
    await sleep(20);
    expect(up.requests).toHaveLength(0);
  });

  it('reports a JSON error body answering a stream request as Provider', async () => {
    up.handler = (_req, res) => sendJson(res, 200, { error: { message: 'streaming is disabled for this key' } });
    const e = await failure(collect(adapter.stream(request(), never)));
    expect(e.errorClass).toBe(ErrorClass.Provider);
    expect(e.message).toContain('streaming is disabled for this key');
  });

  it('never carries the key a provider echoed in a 200 error body, a stream answered with JSON or a mid-stream error', async () => {
    // A key of no known format (a HuggingFace token, a proxy's virtual key): only the key itself can find it.
    const key = 'hf_IntegrationToken0001';
    const keyed = { ...target, apiKey: key };
    up.handler = (_req, res) => sendJson(res, 200, { error: { message: `key ${key} was revoked` } });
    const plain = await failure(adapter.generate(request(keyed), never));
    const asJson = await failure(collect(adapter.stream(request(keyed), never)));
    up.handler = (_req, res) => {
      startSse(res);
      res.write(sseEvent(chunk({ content: 'a' })));
      res.end(sseEvent({ error: { message: `key ${key} was revoked`, type: 'invalid_request_error' } }));
    };
    const midStream = await failure(collect(adapter.stream(request(keyed), never)));
    for (const e of [plain, asJson, midStream]) {
      expect(e.errorClass).toBe(ErrorClass.Provider);
      expect(e.message).toContain('was revoked');
      expect(e.message).toContain('[redacted]');
      expect(e.message).not.toContain(key);
    }
    expect(asJson.status).toBe(200);
  });

  it('lists models and health-checks through GET /models', async () => {
    up.handler = (_req, res) =>
      sendJson(res, 200, { object: 'list', data: [{ id: 'gpt-test', object: 'model' }, { id: 'gpt-mini' }] });
    expect(await adapter.listModels(target, never)).toEqual(['gpt-test', 'gpt-mini']);
    expect(up.requests[0].method).toBe('GET');
    expect(up.requests[0].url).toBe('/v1/models');
    expect(up.requests[0].headers.authorization).toBe(`Bearer ${API_KEY}`);
    const health = await adapter.healthCheck(target, never);
    expect(health.ok).toBe(true);
    expect(health.status).toBe(200);
    expect(health.latencyMs).toBeGreaterThanOrEqual(0);
  });

  it('reports an unhealthy provider without throwing', async () => {
    up.handler = (_req, res) => sendJson(res, 401, { error: { message: 'bad key' } });
    const health = await adapter.healthCheck(target, never);
    expect(health).toMatchObject({ ok: false, status: 401 });
    expect(health.message).toContain('bad key');
    await up.close();
    const down = await adapter.healthCheck({ ...target, poolKey: 'other' }, never);
    expect(down.ok).toBe(false);
    expect(down.status).toBeUndefined();
    up = await FakeUpstream.start(); // afterEach closes it
  });

  // vLLM names the stop string that ended an answer in `stop_reason` (SGLang in `matched_stop`); OpenAI's own API says
  // only `stop`. A /v1/messages client asked for Anthropic's `stop_reason: "stop_sequence"` with the sequence named:
  // the answer has to carry it, whole and streamed.
  it.each([
    ['vLLM', { stop_reason: '\n\n' }],
    ['SGLang', { matched_stop: '\n\n' }],
  ])('keeps the stop sequence %s says ended the answer, whole and streamed', async (_server, named) => {
    up.handler = (_req, res) => {
      const body = completion('Hello');
      Object.assign(body.choices[0], named);
      sendJson(res, 200, body);
    };
    const whole = await adapter.generate(request(), never);
    expect([whole.finishReason, whole.stopSequence]).toEqual(['stop', '\n\n']);

    up.handler = (_req, res) => {
      startSse(res);
      res.write(sseEvent(chunk({ role: 'assistant', content: 'Hel' })));
      res.write(
        sseEvent({
          ...chunk({ content: 'lo' }, 'stop'),
          choices: [{ index: 0, delta: { content: 'lo' }, finish_reason: 'stop', ...named }],
        }),
      );
      res.write(sseEvent(USAGE_CHUNK));
      res.end(sseEvent('[DONE]'));
    };
    const deltas = await collect(adapter.stream(request(), never));
    expect(textOf(deltas)).toBe('Hello');
    const last = deltas.find((d) => d.finishReason !== undefined);
    expect([last?.finishReason, last?.stopSequence]).toEqual(['stop', '\n\n']);

    // A value that is none of the request's stop sequences (a token id, an EOS string) names none.
    up.handler = (_req, res) => {
      const body = completion('Hello');
      Object.assign(body.choices[0], { stop_reason: '<|eot_id|>', matched_stop: 128009 });
      sendJson(res, 200, body);
    };
    expect((await adapter.generate(request(), never)).stopSequence).toBeUndefined();
  });
});
