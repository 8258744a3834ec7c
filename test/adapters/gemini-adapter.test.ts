import {
  AdapterRegistry,
  type AdapterRequest,
  type AdapterTarget,
  HttpPool,
  type ProviderAdapter,
} from '@aigw/adapters';
import { ErrorClass, type JsonObject } from '@aigw/core';
import type { ServerResponse } from 'node:http';
import { collect, failure, textOf } from './support/calls';
import { FakeUpstream, sendJson, sleep, within } from './support/fake-upstream';

/*
 * Gemini API v1beta wire format, from Google's reference (ai.google.dev/api/generate-content): JSON bodies with
 * `candidates[].content.parts[]`, `usageMetadata`, camelCase; `streamGenerateContent?alt=sse` sends one whole
 * GenerateContentResponse per `data:` event (CRLF framed) and closes the stream without a terminal event; errors are
 * `{"error": {"code", "message", "status"}}`.
 */

const API_KEY = 'AIzaSy-integration-secret-0003';

function sseCrlf(res: ServerResponse, chunks: unknown[], end = true): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  return (async () => {
    for (const c of chunks) {
      res.write(`data: ${JSON.stringify(c)}\r\n\r\n`);
      await sleep(2);
    }
    if (end) {
      res.end();
    }
  })();
}

const USAGE = {
  promptTokenCount: 120,
  candidatesTokenCount: 8,
  thoughtsTokenCount: 12,
  cachedContentTokenCount: 100,
  totalTokenCount: 140,
};

describe('Gemini adapter against a real HTTP server', () => {
  let up: FakeUpstream;
  let pool: HttpPool;
  let adapter: ProviderAdapter;
  let target: AdapterTarget;
  const never = new AbortController().signal;

  beforeEach(async () => {
    up = await FakeUpstream.start();
    pool = new HttpPool();
    adapter = new AdapterRegistry(pool).get('gemini');
    target = {
      baseUrl: `${up.origin}/v1beta`,
      apiKey: API_KEY,
      model: 'gemini-2.5-flash',
      timeoutMs: 2000,
      poolKey: 'g',
    };
  });

  afterEach(async () => {
    await pool.destroy();
    await up.close();
  });

  const toolRequest = (): AdapterRequest => ({
    target,
    messages: [
      { role: 'system', content: 'Be brief.' },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Weather here?' },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
          { type: 'image_url', image_url: { url: 'https://example.com/cat.webp' } },
        ],
      },
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'call_a', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } }],
      },
      { role: 'tool', tool_call_id: 'call_a', content: '{"celsius":21}' },
      { role: 'user', content: 'And tomorrow?' },
    ],
    options: {
      temperature: 0.2,
      maxTokens: 64,
      stop: ['END'],
      seed: 7,
      tools: [
        {
          type: 'function',
          function: {
            name: 'weather',
            description: 'Weather for a city',
            parameters: {
              $schema: 'http://json-schema.org/draft-07/schema#',
              type: 'object',
              properties: { city: { type: 'string' } },
              required: ['city'],
              additionalProperties: false,
            },
          },
        },
      ],
      toolChoice: 'required',
      responseFormat: { type: 'json_object' },
    },
  });

  it('sends generateContent with system instruction, images, function calls and responses, and config', async () => {
    up.handler = (_req, res) =>
      sendJson(res, 200, {
        candidates: [
          {
            content: {
              role: 'model',
              parts: [
                { text: 'Checking the forecast.', thought: true },
                { functionCall: { name: 'weather', args: { city: 'Paris', day: 'tomorrow' } } },
              ],
            },
            finishReason: 'STOP',
            index: 0,
          },
        ],
        usageMetadata: USAGE,
        modelVersion: 'gemini-2.5-flash',
        responseId: 'resp-1',
      });
    const r = await adapter.generate(toolRequest(), never);
    expect(r).toMatchObject({
      id: 'resp-1',
      text: '',
      finishReason: 'tool_calls',
      reasoning: 'Checking the forecast.',
    });
    expect(r.toolCalls).toEqual([
      {
        id: expect.stringMatching(/^call_[0-9a-f]{24}$/),
        type: 'function',
        function: { name: 'weather', arguments: '{"city":"Paris","day":"tomorrow"}' },
      },
    ]);
    // Ids unique across answers, not only within one: a later history must not hold two calls with one id.
    const again = await adapter.generate(toolRequest(), never);
    expect(again.toolCalls?.[0].id).not.toBe(r.toolCalls?.[0].id);
    expect(r.usage).toEqual({
      promptTokens: 120,
      completionTokens: 20,
      totalTokens: 140,
      cachedPromptTokens: 100,
      reasoningTokens: 12,
    });

    const seen = up.requests[0];
    expect(seen.method).toBe('POST');
    expect(seen.url).toBe('/v1beta/models/gemini-2.5-flash:generateContent');
    expect(seen.headers['x-goog-api-key']).toBe(API_KEY);
    expect(seen.headers.authorization).toBeUndefined();
    expect(JSON.parse(seen.body)).toEqual({
      systemInstruction: { parts: [{ text: 'Be brief.' }] },
      contents: [
        {
          role: 'user',
          parts: [
            { text: 'Weather here?' },
            { inlineData: { mimeType: 'image/png', data: 'iVBORw0KGgo=' } },
            { fileData: { mimeType: 'image/webp', fileUri: 'https://example.com/cat.webp' } },
          ],
        },
        { role: 'model', parts: [{ functionCall: { name: 'weather', args: { city: 'Paris' } } }] },
        {
          role: 'user',
          parts: [{ functionResponse: { name: 'weather', response: { celsius: 21 } } }, { text: 'And tomorrow?' }],
        },
      ],
      tools: [
        {
          functionDeclarations: [
            {
              name: 'weather',
              description: 'Weather for a city',
              parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
            },
          ],
        },
      ],
      toolConfig: { functionCallingConfig: { mode: 'ANY' } },
      generationConfig: {
        temperature: 0.2,
        maxOutputTokens: 64,
        stopSequences: ['END'],
        seed: 7,
        responseMimeType: 'application/json',
      },
    });
  });

  it('maps finish reasons: MAX_TOKENS is length, SAFETY is content_filter, a blocked prompt is an empty filtered answer', async () => {
    const answers = [
      { candidates: [{ content: { parts: [{ text: 'Long' }] }, finishReason: 'MAX_TOKENS' }], usageMetadata: USAGE },
      { candidates: [{ content: { parts: [] }, finishReason: 'SAFETY' }] },
      { promptFeedback: { blockReason: 'PROHIBITED_CONTENT' }, usageMetadata: { promptTokenCount: 5 } },
      { candidates: [{ content: { parts: [] }, finishReason: 'IMAGE_PROHIBITED_CONTENT' }] },
      // "Request has at least one thought signature missing": no answer, not an empty success.
      { candidates: [{ finishReason: 'MISSING_THOUGHT_SIGNATURE' }], usageMetadata: { promptTokenCount: 5 } },
      // "Model called too many tools consecutively, thus the system exited execution"; "the response was malformed".
      { candidates: [{ content: { parts: [{ text: 'Let me' }] }, finishReason: 'TOO_MANY_TOOL_CALLS' }] },
      { candidates: [{ content: { parts: [{ text: '{"a":' }] }, finishReason: 'MALFORMED_RESPONSE' }] },
    ];
    let i = 0;
    up.handler = (_req, res) => sendJson(res, 200, answers[i++]);
    const req: AdapterRequest = { target, messages: [{ role: 'user', content: 'x' }], options: {} };
    expect((await adapter.generate(req, never)).finishReason).toBe('length');
    expect((await adapter.generate(req, never)).finishReason).toBe('content_filter');
    const blocked = await adapter.generate(req, never);
    expect(blocked).toMatchObject({ text: '', finishReason: 'content_filter' });
    expect(blocked.usage.promptTokens).toBe(5);
    expect((await adapter.generate(req, never)).finishReason).toBe('content_filter');
    expect((await failure(adapter.generate(req, never))).errorClass).toBe(ErrorClass.Provider);
    expect((await failure(adapter.generate(req, never))).errorClass).toBe(ErrorClass.Provider);
    expect((await failure(adapter.generate(req, never))).errorClass).toBe(ErrorClass.Provider);
  });

  it('streams with alt=sse: text pieces, a whole function call, and the finish reason and usage of the last event', async () => {
    up.handler = (_req, res) =>
      sseCrlf(res, [
        { candidates: [{ content: { role: 'model', parts: [{ text: 'Bon' }] } }], responseId: 'resp-s' },
        { candidates: [{ content: { role: 'model', parts: [{ text: 'jour 👋' }] } }], responseId: 'resp-s' },
        {
          candidates: [
            {
              content: { role: 'model', parts: [{ functionCall: { name: 'weather', args: { city: 'Nice' } } }] },
              finishReason: 'STOP',
            },
          ],
          usageMetadata: USAGE,
          responseId: 'resp-s',
        },
      ]);
    const deltas = await within(5000, 'stream', collect(adapter.stream(toolRequest(), never)));
    expect(up.requests[0].url).toBe('/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
    expect(textOf(deltas)).toBe('Bonjour 👋');
    expect(deltas[0].id).toBe('resp-s');
    const last = deltas[deltas.length - 1];
    expect(last.toolCalls).toEqual([
      { index: 0, id: expect.stringMatching(/^call_[0-9a-f]{24}$/), name: 'weather', arguments: '{"city":"Nice"}' },
    ]);
    expect(last.finishReason).toBe('tool_calls');
    expect(last.usage).toMatchObject({ promptTokens: 120, completionTokens: 20, cachedPromptTokens: 100 });
  });

  it('fails a stream that closes before any finish reason as a network error, after what did arrive', async () => {
    up.handler = (_req, res) => sseCrlf(res, [{ candidates: [{ content: { parts: [{ text: 'Half' }] } }] }]);
    const seen: string[] = [];
    const err = await failure(
      (async () => {
        for await (const d of adapter.stream(
          { target, messages: [{ role: 'user', content: 'x' }], options: {} },
          never,
        )) {
          seen.push(d.text);
        }
      })(),
    );
    expect(seen).toEqual(['Half']);
    expect(err.errorClass).toBe(ErrorClass.Network);
  });

  it('classifies Google error bodies: 429 RESOURCE_EXHAUSTED is a rate limit, 400 INVALID_ARGUMENT a bad request, 403 auth', async () => {
    const errors: [number, string, string][] = [
      [429, 'RESOURCE_EXHAUSTED', 'Resource has been exhausted (e.g. check quota).'],
      [400, 'INVALID_ARGUMENT', 'Request contains an invalid argument.'],
      [403, 'PERMISSION_DENIED', `Method doesn't allow unregistered callers. ${API_KEY}`],
    ];
    let i = 0;
    up.handler = (_req, res) => {
      const [code, status, message] = errors[i++];
      sendJson(res, code, { error: { code, message, status } }, code === 429 ? { 'retry-after': '7' } : {});
    };
    const req: AdapterRequest = { target, messages: [{ role: 'user', content: 'x' }], options: {} };
    const limited = await failure(adapter.generate(req, never));
    expect(limited).toMatchObject({ errorClass: ErrorClass.RateLimit, status: 429, retryAfterMs: 7000 });
    expect(limited.message).toContain('Resource has been exhausted');
    expect((await failure(adapter.generate(req, never))).errorClass).toBe(ErrorClass.InvalidRequest);
    const denied = await failure(adapter.generate(req, never));
    expect(denied.errorClass).toBe(ErrorClass.Auth);
    expect(denied.message).not.toContain(API_KEY);
  });

  it('classifies 404 NOT_FOUND (a model this API version does not serve) as not found: not retried, not held against the deployment, whole and streamed', async () => {
    const notFound = {
      error: {
        code: 404,
        message:
          'models/gemini-9-flash is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods.',
        status: 'NOT_FOUND',
      },
    };
    up.handler = (_req, res) => sendJson(res, 404, notFound);
    const req: AdapterRequest = {
      target: { ...target, model: 'gemini-9-flash' },
      messages: [{ role: 'user', content: 'x' }],
      options: {},
    };
    const whole = await failure(adapter.generate(req, never));
    expect(whole).toMatchObject({ errorClass: ErrorClass.NotFound, status: 404 });
    expect(whole.message).toContain('models/gemini-9-flash is not found');
    const streamed = await failure(collect(adapter.stream(req, never)));
    expect(streamed).toMatchObject({ errorClass: ErrorClass.NotFound, status: 404 });
    expect(up.requests).toHaveLength(2);
  });

  it('names an in-stream UNAVAILABLE overloaded (its HTTP 503 is a capacity refusal), RESOURCE_EXHAUSTED a rate limit', async () => {
    // google.rpc.Status objects as a stream's event (HTTP 200, no status to classify by), as Gemini sends them when
    // the model is overloaded or the quota runs out after the call was accepted. The RetryInfo says when to come back.
    const events: unknown[] = [
      { error: { code: 503, message: 'The model is overloaded. Please try again later.', status: 'UNAVAILABLE' } },
      {
        error: {
          code: 429,
          message: 'Resource has been exhausted (e.g. check quota).',
          status: 'RESOURCE_EXHAUSTED',
          details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '12s' }],
        },
      },
      { error: { code: 500, message: 'An internal error has occurred.', status: 'INTERNAL' } },
    ];
    let i = 0;
    up.handler = (_req, res) => sseCrlf(res, [events[i++]]);
    const req: AdapterRequest = { target, messages: [{ role: 'user', content: 'x' }], options: {} };
    const streamed = () => failure(collect(adapter.stream(req, never)));
    const unavailable = await streamed();
    expect(unavailable).toMatchObject({ errorClass: ErrorClass.Provider, overloaded: true, status: undefined });
    expect(unavailable.message).toContain('The model is overloaded');
    expect(await streamed()).toMatchObject({
      errorClass: ErrorClass.RateLimit,
      overloaded: false,
      retryAfterMs: 12_000,
    });
    expect(await streamed()).toMatchObject({ errorClass: ErrorClass.Provider, overloaded: false });
  });

  it('lists models without their models/ prefix and health-checks on that list (no billed call)', async () => {
    up.handler = (_req, res) =>
      sendJson(res, 200, {
        models: [
          { name: 'models/gemini-2.5-flash', supportedGenerationMethods: ['generateContent'] },
          { name: 'models/text-embedding-004', supportedGenerationMethods: ['embedContent'] },
        ],
      });
    expect(await adapter.listModels(target, never)).toEqual(['gemini-2.5-flash', 'text-embedding-004']);
    expect(up.requests[0].url).toBe('/v1beta/models?pageSize=1000');
    const health = await adapter.healthCheck(target, never);
    expect(health).toMatchObject({ ok: true, status: 200 });
    expect(up.requests.map((r) => r.url)).toEqual(['/v1beta/models?pageSize=1000', '/v1beta/models?pageSize=1000']);
  });

  it("writes a Zod or Pydantic schema as Gemini's Schema takes it (const, oneOf, exclusiveMinimum, examples, number enums, formats)", async () => {
    up.handler = (_req, res) =>
      sendJson(res, 200, {
        candidates: [{ content: { role: 'model', parts: [{ text: '{}' }] }, finishReason: 'STOP', index: 0 }],
        usageMetadata: USAGE,
      });
    // What zod-to-json-schema and Pydantic write for literals, unions, positive numbers, examples and int enums.
    const schema: JsonObject = {
      $schema: 'http://json-schema.org/draft-07/schema#',
      type: 'object',
      properties: {
        kind: { type: 'string', const: 'math' },
        shape: {
          oneOf: [
            { type: 'object', properties: { r: { type: 'number', exclusiveMinimum: 0 } }, additionalProperties: false },
            { type: 'object', properties: { side: { type: 'number', multipleOf: 0.5 } } },
          ],
        },
        level: { type: 'integer', enum: [1, 2, 3], examples: [2] },
        mode: { enum: ['a', null] },
        note: { allOf: [{ type: 'string', minLength: 1, description: 'the model doc' }], description: 'a note' },
        email: { type: 'string', format: 'email' },
        when: { type: 'string', format: 'date-time' },
        ratio: { type: 'number', format: 'double' },
        flag: { const: true },
        tags: { type: 'array', items: { type: 'string' }, uniqueItems: true, minItems: 1 },
      },
      required: ['kind'],
      additionalProperties: false,
    };
    await adapter.generate(
      {
        target,
        messages: [{ role: 'user', content: 'Solve' }],
        options: {
          responseFormat: { type: 'json_schema', json_schema: { name: 'answer', schema, strict: true } },
          tools: [{ type: 'function', function: { name: 'solve', parameters: schema } }],
        },
      },
      never,
    );
    const expected = {
      type: 'object',
      properties: {
        kind: { type: 'string', enum: ['math'] },
        shape: {
          anyOf: [
            { type: 'object', properties: { r: { type: 'number' } } },
            { type: 'object', properties: { side: { type: 'number' } } },
          ],
        },
        // Gemini takes enum on strings only: other values are named in the description, the type kept.
        level: { type: 'integer', description: 'One of: 1, 2, 3.' },
        mode: { type: 'string', enum: ['a'], nullable: true },
        // The field's own description over the referenced schema's.
        note: { type: 'string', minLength: 1, description: 'a note' },
        // Formats Gemini refuses for the type (Zod's .email()) are left out; its own are kept.
        email: { type: 'string' },
        when: { type: 'string', format: 'date-time' },
        ratio: { type: 'number', format: 'double' },
        flag: { type: 'boolean', description: 'One of: true.' },
        tags: { type: 'array', items: { type: 'string' }, minItems: 1 },
      },
      required: ['kind'],
    };
    const body = JSON.parse(up.requests[0].body);
    expect(body.generationConfig.responseSchema).toEqual(expected);
    expect(body.tools[0].functionDeclarations[0].parameters).toEqual(expected);
  });

  it('declares a tool without arguments (an MCP tool, z.object({})) without the empty properties Gemini refuses', async () => {
    // The Gemini API answers an OBJECT schema with `properties: {}` with 400 INVALID_ARGUMENT
    // "* GenerateContentRequest.tools[0].function_declarations[0].parameters.properties: should be non-empty for OBJECT
    // type"; `parameters` is optional in a FunctionDeclaration, and an object schema may leave `properties` out.
    const emptyProperties = (v: unknown): boolean =>
      typeof v === 'object' &&
      v !== null &&
      Object.entries(v as Record<string, unknown>).some(
        ([k, sub]) =>
          (k === 'properties' && typeof sub === 'object' && sub !== null && Object.keys(sub).length === 0) ||
          emptyProperties(sub),
      );
    up.handler = (_req, res, seen) => {
      if (emptyProperties((JSON.parse(seen.body) as { tools?: unknown }).tools)) {
        sendJson(res, 400, {
          error: {
            code: 400,
            message:
              '* GenerateContentRequest.tools[0].function_declarations[0].parameters.properties: should be non-empty for OBJECT type\n',
            status: 'INVALID_ARGUMENT',
          },
        });
        return;
      }
      sendJson(res, 200, { candidates: [{ content: { parts: [{ text: 'ok' }] }, finishReason: 'STOP' }] });
    };
    const tools: NonNullable<AdapterRequest['options']['tools']> = [
      // What MCP servers and zod-to-json-schema write for a tool without arguments.
      {
        type: 'function',
        function: {
          name: 'now',
          description: 'The time',
          parameters: { type: 'object', properties: {}, required: [], additionalProperties: false },
        },
      },
      {
        type: 'function',
        function: {
          name: 'log',
          parameters: {
            type: 'object',
            properties: { text: { type: 'string' }, meta: { type: 'object', properties: {} } },
            required: ['text'],
          },
        },
      },
    ];
    const r = await adapter.generate(
      { target, messages: [{ role: 'user', content: 'Time?' }], options: { tools } },
      never,
    );
    expect(r.text).toBe('ok');
    const declared = (JSON.parse(up.requests[0].body) as { tools: { functionDeclarations: unknown[] }[] }).tools[0];
    expect(declared.functionDeclarations).toEqual([
      { name: 'now', description: 'The time' },
      {
        name: 'log',
        parameters: {
          type: 'object',
          properties: { text: { type: 'string' }, meta: { type: 'object' } },
          required: ['text'],
        },
      },
    ]);
  });

  it('refuses, before any HTTP, a tool call whose arguments are not a JSON object', async () => {
    const req = toolRequest();
    req.messages[2].tool_calls = [{ id: 'call_a', type: 'function', function: { name: 'weather', arguments: '[1]' } }];
    const err = await failure(adapter.generate(req, never));
    expect(err.errorClass).toBe(ErrorClass.InvalidRequest);
    expect(up.requests).toHaveLength(0);
  });

  // Gemini 2.5+ signs its function calls (`thoughtSignature` on the part; only the first of parallel calls has one) and
  // Gemini 3 refuses, with a 400, a history whose function call comes back without its signature: a tool loop's
  // second turn. The signature rides in the tool call id, which every client sends back as it came.
  const SIGNATURE = 'CiQBVKhc7+/aN1vX3T2m0f9sK4Q=';
  const SIGNATURE_URL = Buffer.from(SIGNATURE, 'base64').toString('base64url');
  const signedCalls = [
    { functionCall: { name: 'weather', args: { city: 'Paris' } }, thoughtSignature: SIGNATURE },
    { functionCall: { name: 'weather', args: { city: 'Rome' } } },
  ];

  function loopRequest(calls: { id: string; name: string; arguments: string }[]): AdapterRequest {
    return {
      target,
      messages: [
        { role: 'user', content: 'Weather in Paris and Rome?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: calls.map((c) => ({
            id: c.id,
            type: 'function' as const,
            function: { name: c.name, arguments: c.arguments },
          })),
        },
        ...calls.map((c, i) => ({ role: 'tool' as const, tool_call_id: c.id, content: `{"celsius":${20 + i}}` })),
      ],
      options: {},
    };
  }

  function sentModelTurn(): unknown {
    const body = JSON.parse(up.requests[up.requests.length - 1].body) as { contents: { role: string }[] };
    return body.contents.find((c) => c.role === 'model');
  }

  it('sends the thought signature of a function call back with that call in the next turn', async () => {
    up.handler = (_req, res) =>
      sendJson(res, 200, {
        candidates: [{ content: { role: 'model', parts: signedCalls }, finishReason: 'STOP', index: 0 }],
        usageMetadata: USAGE,
      });
    const r = await adapter.generate({ target, messages: [{ role: 'user', content: 'x' }], options: {} }, never);
    const calls = (r.toolCalls ?? []).map((c) => ({ id: c.id, ...c.function }));
    expect(calls).toHaveLength(2);
    // Ids stay what tool-call ids may be (Anthropic's pattern), whoever the conversation goes to next.
    for (const c of calls) {
      expect(c.id).toMatch(/^[A-Za-z0-9_-]+$/);
    }
    await adapter.generate(loopRequest(calls), never);
    expect(sentModelTurn()).toEqual({
      role: 'model',
      parts: [
        { functionCall: { name: 'weather', args: { city: 'Paris' } }, thoughtSignature: SIGNATURE },
        { functionCall: { name: 'weather', args: { city: 'Rome' } } },
      ],
    });
  });

  it('keeps the thought signature of a streamed function call for the next turn', async () => {
    up.handler = (_req, res) =>
      sseCrlf(res, [
        { candidates: [{ content: { role: 'model', parts: [signedCalls[0]] } }] },
        { candidates: [{ content: { role: 'model', parts: [signedCalls[1]] } }] },
        {
          candidates: [{ content: { role: 'model', parts: [{ text: '' }] }, finishReason: 'STOP' }],
          usageMetadata: USAGE,
        },
      ]);
    const deltas = await within(
      5000,
      'stream',
      collect(adapter.stream({ target, messages: [{ role: 'user', content: 'x' }], options: {} }, never)),
    );
    const calls = deltas
      .flatMap((d) => d.toolCalls ?? [])
      .map((c) => ({ id: c.id ?? '', name: c.name ?? '', arguments: c.arguments ?? '' }));
    expect(calls.map((c) => c.name)).toEqual(['weather', 'weather']);
    up.handler = (_req, res) =>
      sendJson(res, 200, { candidates: [{ content: { parts: [{ text: 'ok' }] }, finishReason: 'STOP' }] });
    await adapter.generate(loopRequest(calls), never);
    expect(sentModelTurn()).toEqual({
      role: 'model',
      parts: [
        { functionCall: { name: 'weather', args: { city: 'Paris' } }, thoughtSignature: SIGNATURE },
        { functionCall: { name: 'weather', args: { city: 'Rome' } } },
      ],
    });
  });

  it("sends Gemini 3 a tool loop whose calls no Gemini signed (another family's, a client's own) with Google's stand-in signature", async () => {
    // Gemini 3 validates the signature of the first functionCall of each model turn of the current turn (from the last
    // user message with text): one without is a 400 (ai.google.dev/gemini-api/docs/thought-signatures). For calls it
    // did not make (a conversation begun on another model, calls a client wrote), Google documents the stand-in
    // `skip_thought_signature_validator`, as gemini-cli sends it.
    const MISSING =
      'Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly.';
    up.handler = (_req, res, seen) => {
      const contents = (JSON.parse(seen.body) as { contents: { role: string; parts: Record<string, unknown>[] }[] })
        .contents;
      let start = -1;
      contents.forEach((c, i) => {
        if (c.role === 'user' && c.parts.some((p) => typeof p.text === 'string')) {
          start = i;
        }
      });
      const unsigned = contents
        .slice(start + 1)
        .filter((c) => c.role === 'model')
        .some((c) => {
          const first = c.parts.find((p) => p.functionCall !== undefined);
          return first !== undefined && typeof first.thoughtSignature !== 'string';
        });
      if (unsigned) {
        sendJson(res, 400, { error: { code: 400, message: MISSING, status: 'INVALID_ARGUMENT' } });
        return;
      }
      sendJson(res, 200, { candidates: [{ content: { parts: [{ text: 'Sunny.' }] }, finishReason: 'STOP' }] });
    };
    const call = (id: string, city: string) => ({
      id,
      type: 'function' as const,
      function: { name: 'weather', arguments: JSON.stringify({ city }) },
    });
    const messages: AdapterRequest['messages'] = [
      { role: 'user', content: 'Weather in Oslo?' },
      { role: 'assistant', content: null, tool_calls: [call('call_old', 'Oslo')] },
      { role: 'tool', tool_call_id: 'call_old', content: '{"celsius":3}' },
      { role: 'assistant', content: 'Cold.' },
      { role: 'user', content: 'And in Paris and Rome, then Nice?' },
      { role: 'assistant', content: null, tool_calls: [call('call_p', 'Paris'), call('call_r', 'Rome')] },
      { role: 'tool', tool_call_id: 'call_p', content: '{"celsius":20}' },
      { role: 'tool', tool_call_id: 'call_r', content: '{"celsius":24}' },
      { role: 'assistant', content: null, tool_calls: [call(`call_n__thought__${SIGNATURE_URL}`, 'Nice')] },
      { role: 'tool', tool_call_id: `call_n__thought__${SIGNATURE_URL}`, content: '{"celsius":22}' },
    ];
    const gemini3 = { ...target, model: 'gemini-3-pro-preview' };
    const r = await adapter.generate({ target: gemini3, messages, options: {} }, never);
    expect(r.text).toBe('Sunny.');
    const sent = (JSON.parse(up.requests[0].body) as { contents: { role: string; parts: unknown[] }[] }).contents;
    expect(sent.filter((c) => c.role === 'model').map((c) => c.parts)).toEqual([
      // Before the current turn: not validated, sent as it was.
      [{ functionCall: { name: 'weather', args: { city: 'Oslo' } } }],
      [{ text: 'Cold.' }],
      // The first call of a step only, as Gemini signs parallel calls.
      [
        {
          functionCall: { name: 'weather', args: { city: 'Paris' } },
          thoughtSignature: 'skip_thought_signature_validator',
        },
        { functionCall: { name: 'weather', args: { city: 'Rome' } } },
      ],
      // Gemini's own signature goes back as it came.
      [{ functionCall: { name: 'weather', args: { city: 'Nice' } }, thoughtSignature: SIGNATURE }],
    ]);
    // Streamed alike.
    up.handler = (_req, res) =>
      sseCrlf(res, [{ candidates: [{ content: { parts: [{ text: 'Sunny.' }] }, finishReason: 'STOP' }] }]);
    await within(5000, 'stream', collect(adapter.stream({ target: gemini3, messages, options: {} }, never)));
    expect(up.requests[1].body).toBe(up.requests[0].body);
    // Models before 3 validate no signature: their history goes as it is.
    up.handler = (_req, res) =>
      sendJson(res, 200, { candidates: [{ content: { parts: [{ text: 'Sunny.' }] }, finishReason: 'STOP' }] });
    await adapter.generate({ target, messages, options: {} }, never);
    expect(up.requests[2].body).not.toContain('skip_thought_signature_validator');
  });

  it('sends the images of a tool result (a screenshot tool) after its functionResponse instead of dropping them', async () => {
    up.handler = (_req, res) =>
      sendJson(res, 200, { candidates: [{ content: { parts: [{ text: 'ok' }] }, finishReason: 'STOP' }] });
    const req: AdapterRequest = {
      target,
      messages: [
        { role: 'user', content: 'What is on screen?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'call_s', type: 'function', function: { name: 'screenshot', arguments: '{}' } }],
        },
        {
          role: 'tool',
          tool_call_id: 'call_s',
          content: [
            { type: 'text', text: 'taken' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
          ],
        },
      ],
      options: {},
    };
    await adapter.generate(req, never);
    const body = JSON.parse(up.requests[0].body) as { contents: unknown[] };
    expect(body.contents[2]).toEqual({
      role: 'user',
      parts: [
        { functionResponse: { name: 'screenshot', response: { content: 'taken' } } },
        { inlineData: { mimeType: 'image/png', data: 'iVBORw0KGgo=' } },
      ],
    });
  });

  it('asks for log probabilities (responseLogprobs, logprobs) and answers them as OpenAI logprobs, whole and streamed', async () => {
    const step = (token: string, logProbability: number) => ({ token, tokenId: 1, logProbability });
    const logprobsResult = {
      chosenCandidates: [step('Hé', -0.25), step('llo', -0.5)],
      topCandidates: [{ candidates: [step('Hé', -0.25), step('Hi', -1.5)] }, { candidates: [step('llo', -0.5)] }],
    };
    up.handler = (_req, res) =>
      sendJson(res, 200, {
        candidates: [{ content: { role: 'model', parts: [{ text: 'Héllo' }] }, finishReason: 'STOP', logprobsResult }],
        usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 2, totalTokenCount: 5 },
      });
    const req: AdapterRequest = {
      target,
      messages: [{ role: 'user', content: 'hi' }],
      options: { logprobs: true, topLogprobs: 2 },
    };
    const res = await adapter.generate(req, never);
    const hé = { token: 'Hé', logprob: -0.25, bytes: [72, 195, 169] };
    const llo = { token: 'llo', logprob: -0.5, bytes: [108, 108, 111] };
    expect(res.logprobs).toEqual({
      content: [
        { ...hé, top_logprobs: [hé, { token: 'Hi', logprob: -1.5, bytes: [72, 105] }] },
        { ...llo, top_logprobs: [llo] },
      ],
      refusal: null,
    });
    const body = JSON.parse(up.requests[0].body) as { generationConfig: JsonObject };
    expect(body.generationConfig).toMatchObject({ responseLogprobs: true, logprobs: 2 });

    up.handler = (_req, res) =>
      sseCrlf(res, [
        {
          candidates: [
            {
              content: { role: 'model', parts: [{ text: 'Hé' }] },
              logprobsResult: { chosenCandidates: [step('Hé', -0.25)], topCandidates: [] },
            },
          ],
        },
        {
          candidates: [
            {
              content: { role: 'model', parts: [{ text: 'llo' }] },
              finishReason: 'STOP',
              logprobsResult: { chosenCandidates: [step('llo', -0.5)], topCandidates: [] },
            },
          ],
        },
      ]);
    const deltas = await collect(adapter.stream({ ...req, options: { logprobs: true } }, never));
    expect(deltas.map((d) => d.logprobs)).toEqual([
      { content: [{ ...hé, top_logprobs: [] }], refusal: null },
      { content: [{ ...llo, top_logprobs: [] }], refusal: null },
    ]);
    const streamed = JSON.parse(up.requests[1].body) as { generationConfig: JsonObject };
    expect(streamed.generationConfig).toEqual(expect.objectContaining({ responseLogprobs: true }));
    expect(streamed.generationConfig).not.toHaveProperty('logprobs');
  });

  it("turns thinking off (reasoning_effort none) only where the model allows it: 2.5 Pro's minimum budget, Gemini 3's lowest level", async () => {
    // Google's documented limits (ai.google.dev/gemini-api/docs/thinking): 2.5 Pro thinks with 128 to 32,768 tokens
    // and cannot turn it off; 2.5 Flash and Flash-Lite take 0; Gemini 3 Pro cannot turn it off (levels low and high),
    // Gemini 3 Flash's least is `minimal`. Refusals as the API words them.
    up.handler = (req, res, seen) => {
      const model = /models\/([^:]+):/.exec(req.url ?? '')?.[1] ?? '';
      const thinking = (JSON.parse(seen.body) as { generationConfig: { thinkingConfig?: JsonObject } }).generationConfig
        .thinkingConfig;
      const budget = thinking?.thinkingBudget;
      const level = thinking?.thinkingLevel;
      const refuse = (message: string): void =>
        sendJson(res, 400, { error: { code: 400, message, status: 'INVALID_ARGUMENT' } });
      if (budget !== undefined && level !== undefined) {
        return refuse('You can only set only one of thinking budget and thinking level.');
      }
      if (budget === 0 && /gemini-(2\.5-pro|3)/.test(model)) {
        return refuse('Budget 0 is invalid. This model only works in thinking mode.');
      }
      if (level === 'minimal' && /gemini-3(\.\d+)?-pro/.test(model)) {
        return refuse('Thinking level MINIMAL is not supported for this model.');
      }
      if (level !== undefined && !model.startsWith('gemini-3')) {
        return refuse('Thinking level is not supported for this model.');
      }
      sendJson(res, 200, {
        candidates: [{ content: { role: 'model', parts: [{ text: 'ok' }] }, finishReason: 'STOP' }],
        usageMetadata: { promptTokenCount: 1, candidatesTokenCount: 1, totalTokenCount: 2 },
      });
    };
    const sent: unknown[] = [];
    for (const model of [
      'gemini-2.5-pro',
      'gemini-2.5-flash',
      'gemini-2.5-flash-lite',
      'gemini-3-pro-preview',
      'models/gemini-3.1-pro-preview',
      'gemini-3-flash-preview',
    ]) {
      const req: AdapterRequest = {
        target: { ...target, model },
        messages: [{ role: 'user', content: 'x' }],
        options: { reasoningEffort: 'none' },
      };
      expect((await adapter.generate(req, never)).text).toBe('ok');
      const body = JSON.parse(up.requests[up.requests.length - 1].body) as {
        generationConfig: { thinkingConfig?: JsonObject };
      };
      sent.push(body.generationConfig.thinkingConfig);
    }
    expect(sent).toEqual([
      { thinkingBudget: 128 },
      { thinkingBudget: 0 },
      { thinkingBudget: 0 },
      { thinkingLevel: 'low' },
      { thinkingLevel: 'low' },
      { thinkingLevel: 'minimal' },
    ]);
  });
});
