import {
  AdapterRegistry,
  type AdapterRequest,
  type AdapterTarget,
  HttpPool,
  type ProviderAdapter,
} from '@aigw/adapters';
import { ErrorClass } from '@aigw/core';
import { collect, failure, textOf } from './support/calls';
import { FakeUpstream, sendJson, sleep, sseEvent, startSse, within } from './support/fake-upstream';

/*
 * text-generation-inference's native API (huggingface.github.io/text-generation-inference, OpenAPI): `POST /generate`
 * → `{generated_text, details}`; `POST /generate_stream` → SSE, one `data:` event per token, the last with
 * `generated_text` and `details {finish_reason, generated_tokens, input_length}`; errors
 * `{"error", "error_type"}` (422 validation, 424 generation, 429 overloaded); `GET /info`, `GET /health`.
 */

const token = (text: string, special = false): Record<string, unknown> => ({
  index: 1,
  token: { id: 1, text, logprob: -0.1, special },
  generated_text: null,
  details: null,
});

describe('TGI adapter against a real HTTP server', () => {
  let up: FakeUpstream;
  let pool: HttpPool;
  let adapter: ProviderAdapter;
  let target: AdapterTarget;
  const never = new AbortController().signal;
  const req = (options: AdapterRequest['options'] = {}): AdapterRequest => ({
    target,
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
    ],
    options,
  });

  beforeEach(async () => {
    up = await FakeUpstream.start();
    pool = new HttpPool();
    adapter = new AdapterRegistry(pool).get('tgi');
    target = { baseUrl: up.origin, apiKey: 'hf_secret_token_0004', model: 'tgi', timeoutMs: 2000, poolKey: 't' };
  });

  afterEach(async () => {
    await pool.destroy();
    await up.close();
  });

  it('sends /generate with a transcript and TGI parameters, and reads text, finish reason and token counts', async () => {
    up.handler = (_req, res) =>
      sendJson(
        res,
        200,
        {
          generated_text: ' Hello!',
          details: {
            finish_reason: 'eos_token',
            generated_tokens: 3,
            seed: null,
            prefill: [
              { id: 1, text: '<s>' },
              { id: 2, text: 'Hi' },
            ],
            tokens: [],
          },
        },
        { ratelimit: '"api";r=41;t=120' },
      );
    const r = await adapter.generate(
      req({
        temperature: 0,
        topP: 1,
        maxTokens: 20,
        stop: ['User:'],
        seed: 5,
        responseFormat: { type: 'json_object' },
      }),
      never,
    );
    expect(r).toMatchObject({ text: ' Hello!', finishReason: 'stop' });
    expect(r.usage).toEqual({ promptTokens: 2, completionTokens: 3, totalTokens: 5, cachedPromptTokens: 0 });
    expect(r.rateLimit).toEqual({ remainingRequests: 41, resetRequestsMs: 120_000 });
    const seen = up.requests[0];
    expect(seen.url).toBe('/generate');
    expect(seen.headers.authorization).toBe('Bearer hf_secret_token_0004');
    expect(JSON.parse(seen.body)).toEqual({
      inputs: 'System: Be brief.\n\nUser: Hi\n\nAssistant:',
      parameters: {
        max_new_tokens: 20,
        do_sample: false,
        stop: ['User:'],
        seed: 5,
        grammar: { type: 'json', value: { type: 'object' } },
        return_full_text: false,
        details: true,
        decoder_input_details: true,
      },
    });
  });

  it('streams tokens (special ones dropped) and ends on the details event', async () => {
    up.handler = async (_req, res) => {
      startSse(res);
      for (const e of [
        token('Hel'),
        token('lo'),
        {
          ...token('</s>', true),
          generated_text: 'Hello',
          details: { finish_reason: 'length', generated_tokens: 3, input_length: 7 },
        },
      ]) {
        res.write(sseEvent(e).replace('data: ', 'data:'));
        await sleep(2);
      }
      res.end();
    };
    const deltas = await within(5000, 'stream', collect(adapter.stream(req({ temperature: 0.7 }), never)));
    expect(up.requests[0].url).toBe('/generate_stream');
    const parameters = (JSON.parse(up.requests[0].body) as { parameters: Record<string, unknown> }).parameters;
    expect(parameters).toMatchObject({ do_sample: true, temperature: 0.7, details: true });
    // /generate_stream refuses decoder_input_details with a validation error event; a stream's details carry the
    // prompt length anyway.
    expect(parameters).not.toHaveProperty('decoder_input_details');
    expect(textOf(deltas)).toBe('Hello');
    expect(deltas[deltas.length - 1]).toEqual({
      text: '',
      finishReason: 'length',
      usage: { promptTokens: 7, completionTokens: 3, totalTokens: 10, cachedPromptTokens: 0 },
    });
  });

  it('classifies TGI errors: 422 validation (a prompt too long: context length), 429 overloaded (with the IETF reset as Retry-After), in-band stream errors', async () => {
    const answers: [number, unknown, Record<string, string>][] = [
      [422, { error: 'Input validation error: `temperature` must be strictly positive', error_type: 'validation' }, {}],
      [
        422,
        { error: 'Input validation error: `inputs` must have less than 4096 tokens', error_type: 'validation' },
        {},
      ],
      [429, { error: 'Model is overloaded', error_type: 'overloaded' }, { ratelimit: '"api";r=0;t=30' }],
    ];
    let i = 0;
    up.handler = (_req, res) => {
      const [status, body, headers] = answers[i++];
      sendJson(res, status, body, headers);
    };
    expect((await failure(adapter.generate(req(), never))).errorClass).toBe(ErrorClass.InvalidRequest);
    expect((await failure(adapter.generate(req(), never))).errorClass).toBe(ErrorClass.ContextLength);
    expect(await failure(adapter.generate(req(), never))).toMatchObject({
      errorClass: ErrorClass.RateLimit,
      retryAfterMs: 30_000,
    });
    up.handler = (_req, res) => {
      startSse(res);
      res.end(
        sseEvent(token('a')) +
          sseEvent({ error: 'Request failed during generation: CUDA OOM', error_type: 'generation' }),
      );
    };
    const inBand = await failure(collect(adapter.stream(req(), never)));
    expect(inBand.errorClass).toBe(ErrorClass.Provider);
    expect(inBand.message).toContain('CUDA OOM');
  });

  it("classifies a stream's validation error (an event of a 200, before any token) as the same 422 is: the request's fault", async () => {
    // TGI validates a streamed request inside the stream it opened (router server.rs: `generate_stream_internal` yields
    // `infer.generate_stream`'s error as an event): status 200, then `{"error", "error_type": "validation"}`.
    const events = [
      {
        error:
          'Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. Given: 4000 `inputs` tokens and 200 `max_new_tokens`',
        error_type: 'validation',
      },
      { error: 'Input validation error: `temperature` must be strictly positive', error_type: 'validation' },
      { error: 'Model is overloaded', error_type: 'overloaded' },
      { error: 'Incomplete generation', error_type: 'incomplete_generation' },
    ];
    let i = 0;
    up.handler = (_req, res) => {
      startSse(res);
      res.end(sseEvent(events[i++]).replace('data: ', 'data:'));
    };
    const tooLong = await failure(collect(adapter.stream(req({ maxTokens: 200 }), never)));
    expect(tooLong).toMatchObject({ errorClass: ErrorClass.ContextLength });
    expect(tooLong.message).toContain('must be <= 4096');
    const invalid = await failure(collect(adapter.stream(req({ temperature: 5 }), never)));
    expect(invalid).toMatchObject({ errorClass: ErrorClass.InvalidRequest, param: 'temperature' });
    expect(invalid.message).toBe('upstream error: Input validation error: `temperature` must be strictly positive');
    // The others stay as they were: the queue full is a rate limit, a generation that broke off the server's fault.
    expect((await failure(collect(adapter.stream(req(), never)))).errorClass).toBe(ErrorClass.RateLimit);
    expect((await failure(collect(adapter.stream(req(), never)))).errorClass).toBe(ErrorClass.Provider);
  });

  it('leaves the answer uncapped when the client set no max_tokens, as OpenAI does (TGI caps an absent max_new_tokens at 100)', async () => {
    // TGI's router (lib.rs GenerateParameters): `#[serde(default = "default_max_new_tokens")] max_new_tokens:
    // Option<u32>` with `default_max_new_tokens() = Some(100)`; an explicit `null` is None, which validation.rs turns
    // into the room left in the window (`max_total_tokens - input_length`). The model here ends after 150 tokens.
    const budgetOf = (body: string): number | null => {
      const parameters = (JSON.parse(body) as { parameters: Record<string, unknown> }).parameters;
      return 'max_new_tokens' in parameters ? (parameters.max_new_tokens as number | null) : 100;
    };
    const generated = (body: string): { tokens: number; reason: string } => {
      const budget = budgetOf(body);
      return budget === null || budget >= 150
        ? { tokens: 150, reason: 'eos_token' }
        : { tokens: budget, reason: 'length' };
    };
    up.handler = (_req, res, seen) => {
      const { tokens, reason } = generated(seen.body);
      if (seen.url === '/generate') {
        sendJson(res, 200, {
          generated_text: 'w '.repeat(tokens),
          details: { finish_reason: reason, generated_tokens: tokens, prefill: [] },
        });
        return;
      }
      startSse(res);
      res.end(
        sseEvent({
          ...token('w '.repeat(tokens)),
          generated_text: 'w '.repeat(tokens),
          details: { finish_reason: reason, generated_tokens: tokens, input_length: 7 },
        }),
      );
    };
    const whole = await adapter.generate(req(), never);
    expect(whole).toMatchObject({ finishReason: 'stop', usage: { completionTokens: 150 } });
    const deltas = await within(5000, 'stream', collect(adapter.stream(req(), never)));
    expect(deltas[deltas.length - 1]).toMatchObject({ finishReason: 'stop', usage: { completionTokens: 150 } });
    // A client's own limit still goes as it is.
    await adapter.generate(req({ maxTokens: 20 }), never);
    expect(up.requests.map((r) => budgetOf(r.body))).toEqual([null, null, 20]);
  });

  it("takes TGI's refusal of the JSON grammar (JSON mode without a schema, a server without grammar support) as a deployment that cannot express the request", async () => {
    // TGI 3's router compiles the grammar itself and refuses a JSON schema without `properties` (validation.rs:
    // "Grammar must have a 'properties' field"), which is what JSON mode without a schema (`json_object`) is sent as;
    // a server started with --disable-grammar-support refuses any grammar ("grammar is not supported"). Unstreamed a
    // 422, streamed an event of the 200. Either is the deployment's limit, not the client's mistake: routing moves on
    // to a deployment that takes JSON mode, or answers a 400 naming response_format.
    const refusal = (body: string): string | null => {
      const grammar = (JSON.parse(body) as { parameters: { grammar?: { value?: Record<string, unknown> } } }).parameters
        .grammar;
      return grammar !== undefined && grammar.value?.properties === undefined
        ? "Input validation error: grammar is not valid: Grammar must have a 'properties' field"
        : null;
    };
    up.handler = (_req, res, seen) => {
      const error = refusal(seen.body);
      if (seen.url === '/generate_stream') {
        startSse(res);
        res.end(
          error === null
            ? sseEvent({
                ...token('{}'),
                generated_text: '{}',
                details: { finish_reason: 'eos_token', generated_tokens: 1 },
              })
            : sseEvent({ error, error_type: 'validation' }),
        );
        return;
      }
      if (error !== null) {
        sendJson(res, 422, { error, error_type: 'validation' });
        return;
      }
      sendJson(res, 200, { generated_text: '{}', details: { finish_reason: 'eos_token', generated_tokens: 1 } });
    };
    const jsonMode = req({ responseFormat: { type: 'json_object' } });
    const whole = await failure(adapter.generate(jsonMode, never));
    expect(whole).toMatchObject({
      errorClass: ErrorClass.InvalidRequest,
      untranslatable: true,
      param: 'response_format',
    });
    expect(whole.message).toContain("Grammar must have a 'properties' field");
    const streamed = await failure(collect(adapter.stream(jsonMode, never)));
    expect(streamed).toMatchObject({
      errorClass: ErrorClass.InvalidRequest,
      untranslatable: true,
      param: 'response_format',
    });
    // Another validation error stays the client's own.
    up.handler = (_req, res) =>
      sendJson(res, 422, {
        error: 'Input validation error: `temperature` must be strictly positive',
        error_type: 'validation',
      });
    expect(await failure(adapter.generate(req({ temperature: 5 }), never))).toMatchObject({
      errorClass: ErrorClass.InvalidRequest,
      untranslatable: false,
    });
  });

  it('refuses tools and images before any call (the native API has neither)', async () => {
    const tools = await failure(
      adapter.generate(req({ tools: [{ type: 'function', function: { name: 'f' } }] }), never),
    );
    expect(tools.errorClass).toBe(ErrorClass.InvalidRequest);
    const image: AdapterRequest = {
      target,
      messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,AA' } }] }],
      options: {},
    };
    expect((await failure(adapter.generate(image, never))).errorClass).toBe(ErrorClass.InvalidRequest);
    expect(up.requests).toHaveLength(0);
  });

  it('lists the served model from /info and health-checks /health (no generation)', async () => {
    up.handler = (req, res) => {
      if (req.url === '/info') {
        sendJson(res, 200, { model_id: 'HuggingFaceH4/zephyr-7b-beta', max_input_tokens: 4095 });
      } else {
        res.writeHead(200).end();
      }
    };
    expect(await adapter.listModels(target, never)).toEqual(['HuggingFaceH4/zephyr-7b-beta']);
    expect(await adapter.healthCheck(target, never)).toMatchObject({ ok: true, status: 200 });
    expect(up.requests.map((r) => `${r.method} ${r.url}`)).toEqual(['GET /info', 'GET /health']);
    expect(up.requests[1].headers.authorization).toBe('Bearer hf_secret_token_0004');
    up.handler = (_req, res) => sendJson(res, 503, { error: 'not ready' });
    expect(await adapter.healthCheck(target, never)).toMatchObject({ ok: false, status: 503 });
  });
});
