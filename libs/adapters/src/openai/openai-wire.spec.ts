import { ErrorClass, type ChatMessage, type ProviderCallError, type StreamDelta } from '@aigw/core';
import { anthropicBody } from '../anthropic/anthropic-mapping';
import type { SseEvent } from '../sse/sse-parser';
import { OpenAiStreamDecoder, openAiBody, readCompletion, saysStopForToolCalls, usageOf } from './openai-wire';

const msg = (data: string): SseEvent => ({ event: 'message', data });

function decodeAll(datas: string[]): { deltas: StreamDelta[]; done: boolean } {
  const decoder = new OpenAiStreamDecoder(undefined);
  const deltas: StreamDelta[] = [];
  let done = false;
  for (const d of datas) {
    done = decoder.onEvent(msg(d), deltas);
  }
  return { deltas, done };
}

function thrown(fn: () => unknown): ProviderCallError {
  try {
    fn();
  } catch (err) {
    return err as ProviderCallError;
  }
  throw new Error('expected a throw');
}

describe('openAiBody', () => {
  const target = { baseUrl: 'http://x/v1', model: 'gpt-x', timeoutMs: 1000, poolKey: 'p' };
  const messages = [{ role: 'user' as const, content: 'hi' }];

  it("carries Anthropic's service_tier 'standard_only' (to a gateway in front of Claude), never 'auto'", () => {
    const body = (options: Parameters<typeof openAiBody>[0]['options']): Record<string, unknown> =>
      JSON.parse(openAiBody({ target, messages, options }, false)) as Record<string, unknown>;
    expect(body({ anthropicServiceTier: 'standard_only' }).service_tier).toBe('standard_only');
    expect(body({ anthropicServiceTier: 'standard_only', extra: { store: true } })).toMatchObject({
      service_tier: 'standard_only',
      store: true,
    });
    expect(body({ anthropicServiceTier: 'auto' })).not.toHaveProperty('service_tier');
    // The OpenAI endpoint's own pass-through value is untouched.
    expect(body({ extra: { service_tier: 'flex' } }).service_tier).toBe('flex');
  });

  it("leaves Anthropic's prompt-cache marks out of content parts, a document's (file part's) too", () => {
    const body = JSON.parse(
      openAiBody(
        {
          target,
          messages: [
            {
              role: 'user',
              content: [
                { type: 'text', text: 'Sum up', cache_control: { type: 'ephemeral' } },
                {
                  type: 'file',
                  file: { file_data: 'data:application/pdf;base64,JVBE' },
                  cache_control: { type: 'ephemeral' },
                },
              ],
            },
          ],
          options: {},
        },
        false,
      ),
    ) as { messages: { content: unknown }[] };
    expect(body.messages[0].content).toEqual([
      { type: 'text', text: 'Sum up' },
      { type: 'file', file: { file_data: 'data:application/pdf;base64,JVBE' } },
    ]);
  });

  it('sends a plain-text file as a text part titled with its name; a PDF stays a file part', () => {
    // OpenAI and the compatible servers take PDFs only as file parts: a text/plain one (a /v1/messages text document)
    // was an upstream 400, which stops fallback.
    const notes = Buffer.from('Notes: été 2026\n- one').toString('base64');
    const body = JSON.parse(
      openAiBody(
        {
          target,
          messages: [
            {
              role: 'user',
              content: [
                {
                  type: 'file',
                  file: { file_data: `data:text/plain;charset=utf-8;base64,${notes}`, filename: 'notes.txt' },
                  cache_control: { type: 'ephemeral' },
                },
                { type: 'file', file: { file_data: `data:text/plain;base64,${notes}` } },
                { type: 'file', file: { file_data: 'data:application/pdf;base64,JVBE', filename: 'a.pdf' } },
                { type: 'text', text: 'Sum up' },
              ],
            },
          ],
          options: {},
        },
        false,
      ),
    ) as { messages: { content: unknown }[] };
    expect(body.messages[0].content).toEqual([
      { type: 'text', text: 'notes.txt:\n\nNotes: été 2026\n- one' },
      { type: 'text', text: 'Notes: été 2026\n- one' },
      { type: 'file', file: { file_data: 'data:application/pdf;base64,JVBE', filename: 'a.pdf' } },
      { type: 'text', text: 'Sum up' },
    ]);
  });

  it('maps options and asks for usage when streaming', () => {
    const body = JSON.parse(
      openAiBody({ target, messages, options: { temperature: 0, maxTokens: 7, topP: 0.5, stop: ['x'] } }, true),
    );
    expect(body).toEqual({
      model: 'gpt-x',
      messages,
      temperature: 0,
      max_tokens: 7,
      top_p: 0.5,
      stop: ['x'],
      stream: true,
      stream_options: { include_usage: true },
    });
  });

  it('sends every modelled field, the budget under the name the client used, and the pass-through fields', () => {
    const tools = [{ type: 'function' as const, function: { name: 'f', parameters: { type: 'object' } } }];
    const body = JSON.parse(
      openAiBody(
        {
          target,
          messages,
          options: {
            maxTokens: 9,
            maxTokensField: 'max_completion_tokens',
            tools,
            toolChoice: 'required',
            parallelToolCalls: false,
            responseFormat: { type: 'json_object' },
            seed: 1,
            presencePenalty: 0.1,
            frequencyPenalty: 0.2,
            logitBias: { '5': 1 },
            logprobs: true,
            topLogprobs: 2,
            user: 'u',
            reasoningEffort: 'high',
            metadata: { a: 'b' },
            extra: { service_tier: 'flex', model: 'must-not-win' },
          },
        },
        false,
      ),
    );
    expect(body).toEqual({
      service_tier: 'flex',
      model: 'gpt-x',
      messages,
      max_completion_tokens: 9,
      tools,
      tool_choice: 'required',
      parallel_tool_calls: false,
      response_format: { type: 'json_object' },
      seed: 1,
      presence_penalty: 0.1,
      frequency_penalty: 0.2,
      logit_bias: { '5': 1 },
      logprobs: true,
      top_logprobs: 2,
      user: 'u',
      reasoning_effort: 'high',
      metadata: { a: 'b' },
    });
  });

  it("sends OpenAI's own API the budget as max_completion_tokens, which its reasoning models require", () => {
    const openai = { ...target, baseUrl: 'https://api.openai.com/v1', model: 'o3-mini' };
    const bodyOf = (t: typeof target, maxTokensField?: 'max_completion_tokens'): Record<string, unknown> =>
      JSON.parse(openAiBody({ target: t, messages, options: { maxTokens: 4096, maxTokensField } }, false)) as Record<
        string,
        unknown
      >;
    // A budget from /v1/messages' max_tokens, native maxTokens, a spend limit's cap or the client's max_tokens.
    expect(bodyOf(openai)).toEqual({ model: 'o3-mini', messages, max_completion_tokens: 4096 });
    expect(bodyOf(openai, 'max_completion_tokens')).toEqual({
      model: 'o3-mini',
      messages,
      max_completion_tokens: 4096,
    });
    // Other OpenAI-compatible servers keep the name they all know, unless the client used the new one.
    expect(bodyOf(target)).toEqual({ model: 'gpt-x', messages, max_tokens: 4096 });
    expect(bodyOf({ ...target, baseUrl: 'https://api.deepseek.com' })).toEqual({
      model: 'gpt-x',
      messages,
      max_tokens: 4096,
    });
    expect(bodyOf(target, 'max_completion_tokens')).toEqual({ model: 'gpt-x', messages, max_completion_tokens: 4096 });
    expect(JSON.parse(openAiBody({ target: openai, messages, options: {} }, false))).toEqual({
      model: 'o3-mini',
      messages,
    });
  });

  it("sends OpenAI's own API metadata only with store: true, which it refuses metadata without", () => {
    const openai = { ...target, baseUrl: 'https://api.openai.com/v1' };
    const sent = (t: typeof target, extra?: { store: boolean }): Record<string, unknown> =>
      JSON.parse(openAiBody({ target: t, messages, options: { metadata: { session: 's1' }, extra } }, false)) as Record<
        string,
        unknown
      >;
    // OpenAI answers 400 "The 'metadata' parameter is only allowed when 'store' is enabled": the tags label a stored
    // completion, and without one they change nothing, as on the families that have no such field.
    expect(sent(openai)).toEqual({ model: 'gpt-x', messages });
    expect(sent(openai, { store: true })).toEqual({
      model: 'gpt-x',
      messages,
      store: true,
      metadata: { session: 's1' },
    });
    // Other OpenAI-compatible servers get it as sent (LiteLLM reads its own tags from it).
    expect(sent(target)).toEqual({ model: 'gpt-x', messages, metadata: { session: 's1' } });
  });

  it('sends only what is set', () => {
    expect(JSON.parse(openAiBody({ target, messages, options: {} }, false))).toEqual({ model: 'gpt-x', messages });
  });

  describe("other families' tool call ids", () => {
    const signature = Buffer.from('signed by gemini, opaque').toString('base64');
    const signed = `call_0123456789abcdef01234567__thought__${Buffer.from(signature, 'base64').toString('base64url')}`;
    const long = `toolu_${'x'.repeat(60)}`;
    const history = [
      { role: 'user' as const, content: 'weather?' },
      {
        role: 'assistant' as const,
        content: null,
        tool_calls: [signed, long, 'call_short'].map((id) => ({
          id,
          type: 'function' as const,
          function: { name: 'get_weather', arguments: '{}' },
        })),
      },
      { role: 'tool' as const, tool_call_id: signed, content: 'sunny' },
      { role: 'tool' as const, tool_call_id: long, content: 'rainy' },
      { role: 'tool' as const, tool_call_id: 'call_short', content: 'windy' },
    ];
    type Sent = { messages: { tool_calls?: { id: string; extra_content?: unknown }[]; tool_call_id?: string }[] };
    const sent = (baseUrl: string): Sent =>
      JSON.parse(openAiBody({ target: { ...target, baseUrl }, messages: history, options: {} }, false)) as Sent;

    it('are at most 40 characters and without a Gemini signature, the same in the call and its result', () => {
      const body = sent('http://x/v1');
      const ids = body.messages[1].tool_calls!.map((c) => c.id);
      expect(ids[0]).toBe('call_0123456789abcdef01234567');
      expect(ids[1]).toHaveLength(40);
      expect(ids[1].startsWith('toolu_xxx')).toBe(true);
      expect(ids[2]).toBe('call_short');
      expect(body.messages.slice(2).map((m) => m.tool_call_id)).toEqual(ids);
      expect(body.messages[1].tool_calls!.every((c) => c.extra_content === undefined)).toBe(true);
      expect(JSON.stringify(body)).not.toContain('__thought__');
    });

    it('keep two long ids that share their head apart', () => {
      const calls = [`${long}a`, `${long}b`].map((id) => ({
        id,
        type: 'function' as const,
        function: { name: 'f', arguments: '{}' },
      }));
      const body = JSON.parse(
        openAiBody({ target, messages: [{ role: 'assistant', content: null, tool_calls: calls }], options: {} }, false),
      ) as Sent;
      const [a, b] = body.messages[0].tool_calls!.map((c) => c.id);
      expect(a).toHaveLength(40);
      expect(b).toHaveLength(40);
      expect(a).not.toBe(b);
    });

    it("give Google's OpenAI-compatible endpoint its thought signature back in extra_content", () => {
      const body = sent('https://generativelanguage.googleapis.com/v1beta/openai');
      expect(body.messages[1].tool_calls![0]).toMatchObject({
        id: 'call_0123456789abcdef01234567',
        extra_content: { google: { thought_signature: signature } },
      });
      expect(body.messages[1].tool_calls![2].extra_content).toBeUndefined();
    });

    it('leave a history without such ids as it is (no copy)', () => {
      const [ask, answer, , , result] = history;
      const plain = [ask, { ...answer, tool_calls: answer.tool_calls!.slice(2) }, result];
      expect(JSON.parse(openAiBody({ target, messages: plain, options: {} }, false)).messages).toEqual(plain);
    });
  });
});

describe('readCompletion', () => {
  it('reads text, finish reason, id, created and usage with cached tokens', () => {
    const r = readCompletion(
      {
        id: 'chatcmpl-1',
        created: 1700000000,
        choices: [{ index: 0, message: { role: 'assistant', content: 'Hello' }, finish_reason: 'stop' }],
        usage: {
          prompt_tokens: 10,
          completion_tokens: 2,
          total_tokens: 12,
          prompt_tokens_details: { cached_tokens: 4 },
        },
      },
      200,
      undefined,
    );
    expect(r).toEqual({
      id: 'chatcmpl-1',
      created: 1700000000,
      text: 'Hello',
      finishReason: 'stop',
      usage: { promptTokens: 10, completionTokens: 2, totalTokens: 12, cachedPromptTokens: 4 },
    });
  });

  it('rejects bodies that are not completions, and in-band errors, as provider errors', () => {
    expect(thrown(() => readCompletion('nope', 200, undefined)).errorClass).toBe(ErrorClass.Provider);
    expect(thrown(() => readCompletion({ choices: [] }, 200, undefined)).errorClass).toBe(ErrorClass.Provider);
    const inBand = thrown(() => readCompletion({ error: { message: 'upstream exploded' } }, 200, undefined));
    expect(inBand.errorClass).toBe(ErrorClass.Provider);
    expect(inBand.message).toContain('upstream exploded');
  });
});

describe('usageOf', () => {
  it('fills gaps: missing usage, missing total, DeepSeek cache hits', () => {
    expect(usageOf(undefined)).toEqual({ promptTokens: 0, completionTokens: 0, totalTokens: 0, cachedPromptTokens: 0 });
    expect(usageOf({ prompt_tokens: 3, completion_tokens: 4, prompt_cache_hit_tokens: 2 })).toEqual({
      promptTokens: 3,
      completionTokens: 4,
      totalTokens: 7,
      cachedPromptTokens: 2,
    });
  });
});

describe('OpenAiStreamDecoder', () => {
  it('skips role-only chunks, keeps finish reasons, surfaces usage, stops at [DONE]', () => {
    const { deltas, done } = decodeAll([
      '{"id":"c1","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}',
      '{"id":"c1","choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}',
      '{"id":"c1","choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":null}]}',
      '{"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}',
      '{"id":"c1","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7,"prompt_tokens_details":{"cached_tokens":3}}}',
      '[DONE]',
    ]);
    expect(done).toBe(true);
    expect(deltas).toEqual([
      { text: 'Hel', id: 'c1' },
      { text: 'lo' },
      { text: '', finishReason: 'stop' },
      { text: '', usage: { promptTokens: 5, completionTokens: 2, totalTokens: 7, cachedPromptTokens: 3 } },
    ]);
  });

  it('keeps a chunk with an empty delta that carries logprobs (a token without text of its own)', () => {
    const lp = (token: string): string =>
      `{"content":[{"token":"${token}","logprob":-0.5,"bytes":[226],"top_logprobs":[]}]}`;
    const { deltas } = decodeAll([
      '{"id":"c1","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":{"content":[]},"finish_reason":null}]}',
      `{"id":"c1","choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":${lp('Hi')},"finish_reason":null}]}`,
      `{"id":"c1","choices":[{"index":0,"delta":{},"logprobs":${lp('part')},"finish_reason":null}]}`,
      '{"id":"c1","choices":[{"index":0,"delta":{},"logprobs":{"content":null,"refusal":null},"finish_reason":null}]}',
      '{"id":"c1","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}',
      '[DONE]',
    ]);
    // The role chunk's and the keep-alive's empty logprobs are nothing; the token's are kept, in their place.
    expect(deltas.map((d) => [d.text, (d.logprobs as { content?: { token: string }[] } | undefined)?.content])).toEqual(
      [
        ['Hi', [expect.objectContaining({ token: 'Hi' })]],
        ['', [expect.objectContaining({ token: 'part' })]],
        ['', undefined],
      ],
    );
  });

  it('throws a provider error for an in-band error and for a chunk that is not JSON', () => {
    expect(thrown(() => decodeAll(['{"error":{"message":"overloaded","type":"server_error"}}'])).errorClass).toBe(
      ErrorClass.Provider,
    );
    expect(thrown(() => decodeAll(['{"choices":[{"delta":{"content":"x"'])).errorClass).toBe(ErrorClass.Provider);
  });

  it("classifies an in-band error by the status it names: a refused request is the client's, not the provider's", () => {
    // vLLM's ErrorResponse chunk, LiteLLM's envelope with a string code, a 200 body of a proxy.
    const vllm = '{"object":"error","message":"json_schema is not supported","type":"BadRequestError","code":400}';
    expect(thrown(() => decodeAll([vllm])).errorClass).toBe(ErrorClass.InvalidRequest);
    // The field it names is the client's 400's param, as for the same refusal with a 400 status.
    const named = '{"object":"error","message":"bad","type":"BadRequestError","param":"response_format","code":400}';
    expect(thrown(() => decodeAll([named])).param).toBe('response_format');
    expect(
      thrown(() => decodeAll(['{"object":"error","message":"dead","param":"x","code":500}'])).param,
    ).toBeUndefined();
    expect(
      thrown(() => decodeAll(['{"error":{"message":"bad tool","type":"invalid_request_error","code":"400"}}']))
        .errorClass,
    ).toBe(ErrorClass.InvalidRequest);
    expect(thrown(() => readCompletion({ error: { message: 'bad', code: 400 } }, 200, undefined)).errorClass).toBe(
      ErrorClass.InvalidRequest,
    );
    // llama.cpp's `error:` line: its type says the context is exceeded.
    const llama = new OpenAiStreamDecoder(undefined);
    const ctx =
      '{"code":400,"message":"the request exceeds the available context size","type":"exceed_context_size_error"}';
    expect(thrown(() => llama.onEvent({ event: 'error', data: ctx }, [])).errorClass).toBe(ErrorClass.ContextLength);
    // The provider's own failures still count against it.
    expect(thrown(() => decodeAll(['{"error":{"message":"slow down","code":429}}'])).errorClass).toBe(
      ErrorClass.RateLimit,
    );
    expect(thrown(() => decodeAll(['{"object":"error","message":"engine dead","code":500}'])).errorClass).toBe(
      ErrorClass.Provider,
    );
    expect(thrown(() => decodeAll(['{"error":{"message":"bad key","code":"401"}}'])).errorClass).toBe(ErrorClass.Auth);
  });

  it('names an in-band 503 or 529 overloaded, as the same status answered before the stream is (LiteLLM, vLLM)', () => {
    // The provider had no room for the request: the answer is all_providers_overloaded (retry shortly) when no
    // other deployment answered, or provider_overloaded mid-stream, as for Gemini's in-band UNAVAILABLE.
    const overloaded = thrown(() =>
      decodeAll(['{"error":{"message":"AnthropicException - Overloaded","type":"None","param":"None","code":"529"}}']),
    );
    expect(overloaded).toMatchObject({ errorClass: ErrorClass.Provider, overloaded: true });
    const unavailable = thrown(() =>
      decodeAll(['{"object":"error","message":"Service Unavailable","type":"ServiceUnavailableError","code":503}']),
    );
    expect(unavailable).toMatchObject({ errorClass: ErrorClass.Provider, overloaded: true });
    const failed = thrown(() => decodeAll(['{"object":"error","message":"engine dead","code":500}']));
    expect(failed.overloaded).toBe(false);
  });
});

describe("Google's thought signatures on the OpenAI-compatible endpoint", () => {
  const signature = Buffer.from('opaque signature bytes').toString('base64');
  const call = {
    id: 'function-call-1',
    type: 'function',
    function: { name: 'get_weather', arguments: '{}' },
    extra_content: { google: { thought_signature: signature } },
  };

  it('ride in the tool call id of a whole answer and of a stream, as for native Gemini', () => {
    const whole = readCompletion(
      {
        id: 'c',
        choices: [{ index: 0, message: { role: 'assistant', tool_calls: [call] }, finish_reason: 'tool_calls' }],
      },
      200,
      undefined,
    );
    const id = whole.toolCalls![0].id;
    expect(id.startsWith('function-call-1__thought__')).toBe(true);
    const { deltas } = decodeAll([
      JSON.stringify({ id: 'c', choices: [{ index: 0, delta: { tool_calls: [{ index: 0, ...call }] } }] }),
    ]);
    expect(deltas[0].toolCalls![0].id).toBe(id);
    // Sent back to Google, the signature is what Google gave.
    const body = JSON.parse(
      openAiBody(
        {
          target: {
            baseUrl: 'https://generativelanguage.googleapis.com/v1beta/openai',
            model: 'g',
            timeoutMs: 1,
            poolKey: 'p',
          },
          messages: [
            { role: 'assistant', content: null, tool_calls: whole.toolCalls },
            { role: 'tool', tool_call_id: id, content: 'ok' },
          ],
          options: {},
        },
        false,
      ),
    ) as { messages: [{ tool_calls: unknown[] }, { tool_call_id: string }] };
    expect(body.messages[0].tool_calls[0]).toEqual(call);
    expect(body.messages[1].tool_call_id).toBe('function-call-1');
  });
});

describe('tool calls, reasoning and details from OpenAI-compatible answers', () => {
  it('reads tool calls, refusal, reasoning_content, logprobs, fingerprint and reasoning tokens', () => {
    const logprobs = { content: [{ token: 'x', logprob: -1, bytes: [120], top_logprobs: [] }] };
    const r = readCompletion(
      {
        id: 'c',
        created: 1,
        system_fingerprint: 'fp_9',
        choices: [
          {
            message: {
              content: null,
              refusal: null,
              reasoning_content: 'hmm',
              tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } }],
            },
            logprobs,
            finish_reason: 'tool_calls',
          },
        ],
        usage: { prompt_tokens: 5, completion_tokens: 9, completion_tokens_details: { reasoning_tokens: 4 } },
      },
      200,
      undefined,
    );
    expect(r).toMatchObject({
      text: '',
      finishReason: 'tool_calls',
      toolCalls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } }],
      reasoning: 'hmm',
      logprobs,
      systemFingerprint: 'fp_9',
      usage: { reasoningTokens: 4 },
    });
    expect(r.refusal).toBeUndefined();
  });

  it("reads Google's endpoint's `stop` after tool calls as `tool_calls`, whole and streamed; OpenAI's as it is", () => {
    expect(saysStopForToolCalls('https://generativelanguage.googleapis.com/v1beta/openai')).toBe(true);
    expect(saysStopForToolCalls('https://api.openai.com/v1')).toBe(false);
    const call = { id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } };
    const body = { id: 'c1', choices: [{ message: { content: null, tool_calls: [call] }, finish_reason: 'stop' }] };
    expect(readCompletion(body, 200, undefined, true).finishReason).toBe('tool_calls');
    expect(readCompletion(body, 200, undefined).finishReason).toBe('stop');
    const text = { id: 'c2', choices: [{ message: { content: 'hi' }, finish_reason: 'stop' }] };
    expect(readCompletion(text, 200, undefined, true).finishReason).toBe('stop');

    const chunks = [
      JSON.stringify({ id: 'c1', choices: [{ index: 0, delta: { role: 'assistant', tool_calls: [call] } }] }),
      JSON.stringify({ id: 'c1', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }),
      '[DONE]',
    ];
    const decode = (stopForToolCalls: boolean, datas: string[]): (string | null | undefined)[] => {
      const decoder = new OpenAiStreamDecoder(undefined, stopForToolCalls);
      const deltas: StreamDelta[] = [];
      for (const d of datas) {
        decoder.onEvent(msg(d), deltas);
      }
      return deltas.map((d) => d.finishReason);
    };
    expect(decode(true, chunks)).toEqual([undefined, 'tool_calls']);
    expect(decode(false, chunks)).toEqual([undefined, 'stop']);
    const plain = [
      JSON.stringify({ id: 'c2', choices: [{ index: 0, delta: { content: 'hi' }, finish_reason: 'stop' }] }),
    ];
    expect(decode(true, plain)).toEqual(['stop']);
  });

  it('writes out tool-call arguments a server gives as a JSON object (TGI, llama.cpp), whole and streamed', () => {
    const call = { id: 'call_1', type: 'function', function: { name: 'f', arguments: { city: 'Oslo', days: 2 } } };
    const whole = readCompletion(
      { id: 'c1', choices: [{ message: { content: null, tool_calls: [call] }, finish_reason: 'tool_calls' }] },
      200,
      undefined,
    );
    expect(whole.toolCalls).toEqual([
      { id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"city":"Oslo","days":2}' } },
    ]);
    const { deltas } = decodeAll([
      JSON.stringify({ id: 'c1', choices: [{ index: 0, delta: { tool_calls: [{ index: 0, ...call }] } }] }),
      JSON.stringify({ id: 'c1', choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }] }),
      '[DONE]',
    ]);
    expect(deltas[0].toolCalls).toEqual([{ index: 0, id: 'call_1', name: 'f', arguments: '{"city":"Oslo","days":2}' }]);
  });

  it('decodes streamed tool-call fragments and reasoning deltas', () => {
    const chunk = (delta: unknown, extra: Record<string, unknown> = {}): string =>
      JSON.stringify({
        id: 'c1',
        system_fingerprint: 'fp',
        choices: [{ index: 0, delta, finish_reason: null }],
        ...extra,
      });
    const { deltas } = decodeAll([
      chunk({ role: 'assistant', content: '' }),
      chunk({ reasoning_content: 'why' }),
      chunk({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'f', arguments: '' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"a":' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '1}' } }] }),
      '[DONE]',
    ]);
    expect(deltas).toEqual([
      { text: '', reasoning: 'why', id: 'c1', systemFingerprint: 'fp' },
      { text: '', toolCalls: [{ index: 0, id: 'call_1', name: 'f' }] },
      { text: '', toolCalls: [{ index: 0, arguments: '{"a":' }] },
      { text: '', toolCalls: [{ index: 0, arguments: '1}' }] },
    ]);
  });
});

describe('an answer ended with finish_reason "error"', () => {
  const usage = { prompt_tokens: 1000, completion_tokens: 40, total_tokens: 1040 };
  const charged = { promptTokens: 1000, completionTokens: 40, totalTokens: 1040, cachedPromptTokens: 0 };
  const chunk = (body: object): string => JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', ...body });

  it('fails a completion, charged with its usage', () => {
    const body = { choices: [{ message: { content: 'x' }, finish_reason: 'error' }], usage };
    const err = thrown(() => readCompletion(body, 200, undefined));
    expect(err).toMatchObject({ errorClass: ErrorClass.Provider, charged });
  });

  it('fails a stream at the usage chunk after it, charged with that usage', () => {
    const err = thrown(() =>
      decodeAll([chunk({ choices: [{ delta: {}, finish_reason: 'error' }] }), chunk({ choices: [], usage }), '[DONE]']),
    );
    expect(err).toMatchObject({ errorClass: ErrorClass.Provider, charged });
  });

  it('fails a stream without usage at [DONE], or when it closes without it, uncharged', () => {
    const atDone = thrown(() => decodeAll([chunk({ choices: [{ delta: {}, finish_reason: 'error' }] }), '[DONE]']));
    expect(atDone.errorClass).toBe(ErrorClass.Provider);
    expect(atDone.charged).toBeUndefined();
    const decoder = new OpenAiStreamDecoder(undefined);
    const out: StreamDelta[] = [];
    decoder.onEvent(msg(chunk({ choices: [{ delta: { content: 'lost' }, finish_reason: 'error' }] })), out);
    expect(out).toEqual([]);
    expect(() => decoder.complete()).toThrow(expect.objectContaining({ errorClass: ErrorClass.Provider }) as Error);
  });
});

describe('an answer its server cut (vLLM\'s "abort", DeepSeek\'s "insufficient_system_resource")', () => {
  const usage = { prompt_tokens: 500, completion_tokens: 7, total_tokens: 507 };
  const charged = { promptTokens: 500, completionTokens: 7, totalTokens: 507, cachedPromptTokens: 0 };
  const chunk = (body: object): string => JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', ...body });

  it.each(['abort', 'insufficient_system_resource'])(
    '%p fails the stream after the text before it, charged with the usage after it',
    (reason) => {
      const decoder = new OpenAiStreamDecoder(undefined);
      const out: StreamDelta[] = [];
      decoder.onEvent(msg(chunk({ choices: [{ delta: { content: 'Half an' }, finish_reason: null }] })), out);
      decoder.onEvent(msg(chunk({ choices: [{ delta: {}, finish_reason: reason }] })), out);
      expect(out).toEqual([expect.objectContaining({ text: 'Half an' })]);
      expect(out.some((d) => d.finishReason !== undefined)).toBe(false);
      const err = thrown(() => decoder.onEvent(msg(chunk({ choices: [], usage })), out));
      expect(err).toMatchObject({ errorClass: ErrorClass.Provider, charged });
      expect(err.message).toBe(`upstream ended the answer with finish_reason "${reason}"`);
    },
  );
});

describe("Claude's signed thinking through LiteLLM (thinking_blocks)", () => {
  const signed = { type: 'thinking' as const, thinking: 'Let me see.', signature: 'sig-1' };

  it('reads the blocks of an answer with their signatures; unsigned ones are left to reasoning_content', () => {
    const r = readCompletion(
      {
        choices: [
          {
            finish_reason: 'tool_calls',
            message: {
              role: 'assistant',
              content: null,
              reasoning_content: 'Let me see.',
              thinking_blocks: [
                signed,
                { type: 'thinking', thinking: 'x', signature: null },
                { type: 'redacted_thinking', data: 'enc' },
              ],
            },
          },
        ],
      },
      200,
      undefined,
    );
    expect(r.thinkingBlocks).toEqual([signed, { type: 'redacted_thinking', data: 'enc' }]);
    expect(r.reasoning).toBe('Let me see.');
    const plain = readCompletion({ choices: [{ finish_reason: 'stop', message: { content: 'hi' } }] }, 200, undefined);
    expect(plain).not.toHaveProperty('thinkingBlocks');
  });

  it('streams the end of a thinking block as its signature, as LiteLLM streams it', () => {
    const chunk = (delta: object): string => JSON.stringify({ id: 'c1', choices: [{ index: 0, delta }] });
    const { deltas } = decodeAll([
      chunk({ reasoning_content: 'Let me ', thinking_blocks: [{ type: 'thinking', thinking: 'Let me ' }] }),
      chunk({ reasoning_content: 'see.', thinking_blocks: [{ type: 'thinking', thinking: 'see.' }] }),
      chunk({ thinking_blocks: [{ type: 'thinking', thinking: '', signature: 'sig-1' }] }),
      chunk({ content: 'Answer' }),
    ]);
    expect(deltas.map((d) => [d.reasoning, d.reasoningSignature, d.text])).toEqual([
      ['Let me ', undefined, ''],
      ['see.', undefined, ''],
      [undefined, 'sig-1', ''],
      [undefined, undefined, 'Answer'],
    ]);
  });

  it('sends signed blocks back only to a gateway in front of Claude, never unsigned ones', () => {
    const history: ChatMessage[] = [
      { role: 'user', content: 'U' },
      {
        role: 'assistant',
        content: 'A',
        thinking_blocks: [signed, { type: 'thinking', thinking: 'other', signature: '' }],
      },
      { role: 'user', content: 'again' },
    ];
    const sent = (signedThinking: boolean): ChatMessage[] =>
      (
        JSON.parse(
          openAiBody(
            {
              target: {
                baseUrl: 'http://x/v1',
                model: 'claude',
                timeoutMs: 1000,
                poolKey: 'p',
                ...(signedThinking ? { signedThinking: true as const } : {}),
              },
              messages: history,
              options: {},
            },
            false,
          ),
        ) as { messages: ChatMessage[] }
      ).messages;
    expect(sent(true)[1]).toEqual({ role: 'assistant', content: 'A', thinking_blocks: [signed] });
    expect(sent(false)[1]).toEqual({ role: 'assistant', content: 'A' });
  });

  it('sends prompt-cache marks (messages, content parts, tool calls, tools) only to a gateway in front of Claude', () => {
    const mark = { type: 'ephemeral' as const };
    const history: ChatMessage[] = [
      { role: 'system', content: 'S', cache_control: mark },
      { role: 'user', content: [{ type: 'text', text: 'U', cache_control: mark }] },
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' }, cache_control: mark }],
      },
      { role: 'tool', tool_call_id: 'c1', content: 'r' },
    ];
    const tools = [
      { type: 'function' as const, function: { name: 'f', parameters: { type: 'object' } }, cache_control: mark },
    ];
    const sent = (cacheMarks: boolean): { messages: ChatMessage[]; tools: unknown[] } =>
      JSON.parse(
        openAiBody(
          {
            target: {
              baseUrl: 'http://x/v1',
              model: 'claude',
              timeoutMs: 1000,
              poolKey: 'p',
              ...(cacheMarks ? { cacheMarks: true as const } : {}),
            },
            messages: history,
            options: { tools },
          },
          false,
        ),
      ) as { messages: ChatMessage[]; tools: unknown[] };
    expect(sent(true)).toMatchObject({ messages: history, tools: [{ cache_control: mark }] });
    expect(JSON.stringify(sent(false))).not.toContain('cache_control');
  });
});

describe('openAiBody to a gateway in front of Claude (LiteLLM): what a client asks of Claude', () => {
  const plain = { baseUrl: 'http://x/v1', model: 'claude', timeoutMs: 1000, poolKey: 'p' };
  const claude = { ...plain, signedThinking: true as const, cacheMarks: true as const, claudeOptions: true as const };
  const hello: ChatMessage[] = [{ role: 'user', content: 'Hello' }];
  const body = (
    target: Parameters<typeof openAiBody>[0]['target'],
    options: Parameters<typeof openAiBody>[0]['options'],
    messages: ChatMessage[] = hello,
  ): Record<string, unknown> => JSON.parse(openAiBody({ target, messages, options }, false)) as Record<string, unknown>;

  // As /v1/messages reads `thinking: {type: "enabled", budget_tokens: 2048}` (messages-request.ts).
  const budgeted = { maxTokens: 4096, reasoningEffort: 'low' as const, reasoningBudget: 2048 };
  // As it reads `thinking: {type: "adaptive", display: "summarized"}`.
  const adaptive = {
    maxTokens: 4096,
    reasoningEffort: 'medium' as const,
    adaptiveThinking: true as const,
    thinkingDisplay: 'summarized' as const,
  };

  it("sends /v1/messages' thinking as Anthropic's own object (LiteLLM's `thinking`), instead of an effort", () => {
    const enabled = body(claude, budgeted);
    expect(enabled.thinking).toEqual({ type: 'enabled', budget_tokens: 2048 });
    expect(enabled).not.toHaveProperty('reasoning_effort');
    expect(body(claude, { ...budgeted, thinkingDisplay: 'omitted' }).thinking).toEqual({
      type: 'enabled',
      budget_tokens: 2048,
      display: 'omitted',
    });
    const decided = body(claude, adaptive);
    expect(decided.thinking).toEqual({ type: 'adaptive', display: 'summarized' });
    expect(decided).not.toHaveProperty('reasoning_effort');
    // No thinking asked for after all (an effort of none wins, as on Claude's own API): none sent.
    expect(body(claude, { ...adaptive, reasoningEffort: 'none' })).not.toHaveProperty('thinking');
  });

  it("sends the OpenAI endpoint's reasoning_effort as it came, which LiteLLM maps for Claude", () => {
    const effort = body(claude, { reasoningEffort: 'high' });
    expect(effort.reasoning_effort).toBe('high');
    expect(effort).not.toHaveProperty('thinking');
  });

  it('sends no `thinking` to any other OpenAI-wire server, only the effort, as before', () => {
    for (const options of [budgeted, adaptive]) {
      const sent = body(plain, options);
      expect(sent).not.toHaveProperty('thinking');
      expect(sent.reasoning_effort).toBe(options.reasoningEffort);
    }
    // A client's own pass-through `thinking` (Z.ai's and DeepSeek's APIs take one) still goes as it came.
    const zai = { type: 'enabled' };
    expect(body(plain, { extra: { thinking: zai } }).thinking).toEqual(zai);
    expect(body(claude, { extra: { thinking: zai } }).thinking).toEqual(zai);
  });

  it('marks a prefill (the last assistant turn, to be continued) `prefix: true`, as LiteLLM takes it', () => {
    const prefilled: ChatMessage[] = [...hello, { role: 'assistant', content: 'The answer is' }];
    const sent = body(claude, { assistantPrefill: true }, prefilled).messages as Record<string, unknown>[];
    expect(sent).toEqual([...hello, { role: 'assistant', content: 'The answer is', prefix: true }]);
    // The request's own history is left as it was (it may be sent again, to another deployment).
    expect(prefilled[1]).not.toHaveProperty('prefix');
  });

  it('marks no prefill for any other server (OpenAI refuses unknown fields), nor a chat request that ends with an assistant turn', () => {
    const prefilled: ChatMessage[] = [...hello, { role: 'assistant', content: 'The answer is' }];
    expect(body(plain, { assistantPrefill: true }, prefilled).messages).toEqual(prefilled);
    // `/v1/chat/completions` never sets assistantPrefill: its trailing assistant message goes as it came.
    expect(body(claude, {}, prefilled).messages).toEqual(prefilled);
  });
});

describe('temperature and top_p through a gateway in front of Claude (LiteLLM)', () => {
  const send = (model: string, claudeOptions: boolean, options: { temperature?: number; topP?: number }): unknown => {
    const target = { baseUrl: 'http://x/v1', model, timeoutMs: 1000, poolKey: 'p' };
    try {
      return JSON.parse(
        openAiBody(
          {
            target: claudeOptions ? { ...target, claudeOptions: true as const } : target,
            messages: [{ role: 'user', content: 'hi' }],
            options,
          },
          false,
        ),
      ) as unknown;
    } catch (err) {
      return err;
    }
  };

  it('leaves out a top_p of 1 (or a temperature of 1) for a Claude model that takes only one of them', () => {
    const sent = send('claude-sonnet-4-5-20250929', true, { temperature: 0.2, topP: 1 });
    expect(sent).toMatchObject({ temperature: 0.2 });
    expect(sent).not.toHaveProperty('top_p');
    const nucleus = send('anthropic.claude-opus-4-1-20250805-v1:0', true, { temperature: 1, topP: 0.9 });
    expect(nucleus).toMatchObject({ top_p: 0.9 });
    expect(nucleus).not.toHaveProperty('temperature');
  });

  it('refuses both meaningful for such a model before sending, naming top_p', () => {
    expect(send('claude-sonnet-4-5', true, { temperature: 0.2, topP: 0.9 })).toMatchObject({
      errorClass: ErrorClass.InvalidRequest,
      untranslatable: true,
      param: 'top_p',
    });
  });

  it('sends both as they came to older Claude models and to every server not in front of Claude', () => {
    expect(send('claude-sonnet-4-20250514', true, { temperature: 0.2, topP: 0.9 })).toMatchObject({
      temperature: 0.2,
      top_p: 0.9,
    });
    expect(send('claude-sonnet-4-5', false, { temperature: 0.2, topP: 1 })).toMatchObject({
      temperature: 0.2,
      top_p: 1,
    });
  });
});

describe("extended thinking's limits through a gateway in front of Claude (LiteLLM)", () => {
  const gateway = {
    baseUrl: 'http://x/v1',
    model: 'claude-sonnet-4-20250514',
    timeoutMs: 1000,
    poolKey: 'p',
    signedThinking: true as const,
    cacheMarks: true as const,
    claudeOptions: true as const,
  };
  const direct = { baseUrl: 'http://x', model: 'claude-sonnet-4-20250514', timeoutMs: 1000, poolKey: 'd' };
  const hello: ChatMessage[] = [{ role: 'user', content: 'Hello' }];
  const call = { id: 'toolu_1', type: 'function' as const, function: { name: 'now', arguments: '{}' } };
  const loop = (thinking_blocks?: ChatMessage['thinking_blocks']): ChatMessage[] => [
    { role: 'user', content: 'What time is it?' },
    { role: 'assistant', content: null, tool_calls: [call], ...(thinking_blocks ? { thinking_blocks } : {}) },
    { role: 'tool', tool_call_id: 'toolu_1', content: '12:00' },
  ];
  const weather = { type: 'function' as const, function: { name: 'weather', parameters: { type: 'object' } } };
  type Options = Parameters<typeof openAiBody>[0]['options'];
  const viaGateway = (options: Options, messages: ChatMessage[] = hello): unknown => {
    try {
      return JSON.parse(openAiBody({ target: gateway, messages, options }, false)) as unknown;
    } catch (err) {
      return err;
    }
  };
  const viaDirect = (options: Options, messages: ChatMessage[] = hello): unknown => {
    try {
      return JSON.parse(anthropicBody({ target: direct, messages, options }, false)) as unknown;
    } catch (err) {
      return err;
    }
  };
  // /v1/messages' `thinking: {type: "enabled", budget_tokens: 2048}`, its adaptive thinking, and the OpenAI endpoint's
  // `reasoning_effort` (which LiteLLM turns into Claude's `thinking`).
  const budgeted = { maxTokens: 4096, reasoningEffort: 'low' as const, reasoningBudget: 2048 };
  const adaptive = { reasoningEffort: 'medium' as const, adaptiveThinking: true as const };
  const effort = { reasoningEffort: 'high' as const };

  it('refuses before sending what Claude refuses with thinking on, with the error the direct route gives', () => {
    const refused: [string, Options, ChatMessage[]?][] = [
      ['temperature', { ...budgeted, temperature: 0.5 }],
      ['temperature', { ...effort, temperature: 0 }],
      ['top_k', { ...adaptive, topK: 5 }],
      ['top_p', { ...effort, topP: 0.9 }],
      ['tool_choice', { ...budgeted, tools: [weather], toolChoice: 'required' }],
      ['tool_choice', { ...effort, tools: [weather], toolChoice: { type: 'function', function: { name: 'weather' } } }],
      // A named budget on a tool loop sent back without its thinking, as Claude refuses it.
      ['messages', budgeted, loop()],
    ];
    for (const [param, options, messages] of refused) {
      const err = viaGateway(options, messages) as ProviderCallError;
      expect([param, err]).toEqual([
        param,
        expect.objectContaining({ errorClass: ErrorClass.InvalidRequest, untranslatable: true, param }),
      ]);
      // Word for word what the Anthropic adapter answers: the client sees the same whichever route served it.
      expect([param, err.message]).toEqual([param, (viaDirect(options, messages) as ProviderCallError).message]);
    }
  });

  it('sends what Claude takes with thinking on, and anything without thinking, as before', () => {
    expect(viaGateway({ ...budgeted, temperature: 1, topP: 0.95 })).toMatchObject({
      thinking: { type: 'enabled', budget_tokens: 2048 },
      temperature: 1,
      top_p: 0.95,
    });
    expect(viaGateway({ ...effort, tools: [weather], toolChoice: 'auto' })).toMatchObject({
      reasoning_effort: 'high',
      tool_choice: 'auto',
    });
    // No thinking asked for (`none` is none, which LiteLLM sends Claude as no thinking): sampling as the client set it.
    expect(viaGateway({ reasoningEffort: 'none', temperature: 0.5, topK: 5 })).toMatchObject({
      temperature: 0.5,
      top_k: 5,
    });
    expect(viaGateway({ temperature: 0.5, tools: [weather], toolChoice: 'required' })).toMatchObject({
      temperature: 0.5,
      tool_choice: 'required',
    });
    // The loop with its signed thinking (LiteLLM's thinking_blocks), and adaptive thinking on one without: Claude's.
    const signed = [{ type: 'thinking' as const, thinking: 'hm', signature: 'sig' }];
    expect(viaGateway(budgeted, loop(signed))).toMatchObject({ thinking: { type: 'enabled' } });
    expect(viaGateway(adaptive, loop())).toMatchObject({ thinking: { type: 'adaptive' } });
  });

  it('leaves an effort alone out of a tool loop sent back without its thinking, as the direct route leaves thinking out', () => {
    const sent = viaGateway({ ...effort, temperature: 0.5 }, loop());
    expect(sent).not.toHaveProperty('reasoning_effort');
    expect(sent).not.toHaveProperty('thinking');
    expect(sent).toMatchObject({ temperature: 0.5 });
    expect(viaDirect({ ...effort, temperature: 0.5 }, loop())).not.toHaveProperty('thinking');
  });

  it('checks nothing for any other OpenAI-wire server: its effort and sampling go as they came', () => {
    const plain = { baseUrl: 'http://x/v1', model: 'o4-mini', timeoutMs: 1000, poolKey: 'p' };
    const sent = JSON.parse(
      openAiBody({ target: plain, messages: loop(), options: { ...effort, temperature: 0.5, topK: 5 } }, false),
    ) as unknown;
    expect(sent).toMatchObject({ reasoning_effort: 'high', temperature: 0.5, top_k: 5 });
  });
});
