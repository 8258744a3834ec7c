import { ErrorClass, type ProviderCallError, type StreamDelta } from '@aigw/core';
import type { SseEvent } from '../sse/sse-parser';
import { OpenAiStreamDecoder, openAiBody, readCompletion, usageOf } from './openai-wire';

const msg = (data: string): SseEvent => ({ event: 'message', data });

function decodeAll(datas: string[]): { deltas: StreamDelta[]; done: boolean } {
  const decoder = new OpenAiStreamDecoder();
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

  it('sends only what is set', () => {
    expect(JSON.parse(openAiBody({ target, messages, options: {} }, false))).toEqual({ model: 'gpt-x', messages });
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
    expect(thrown(() => readCompletion('nope', 200)).errorClass).toBe(ErrorClass.Provider);
    expect(thrown(() => readCompletion({ choices: [] }, 200)).errorClass).toBe(ErrorClass.Provider);
    const inBand = thrown(() => readCompletion({ error: { message: 'upstream exploded' } }, 200));
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

  it('throws a provider error for an in-band error and for a chunk that is not JSON', () => {
    expect(thrown(() => decodeAll(['{"error":{"message":"overloaded","type":"server_error"}}'])).errorClass).toBe(
      ErrorClass.Provider,
    );
    expect(thrown(() => decodeAll(['{"choices":[{"delta":{"content":"x"'])).errorClass).toBe(ErrorClass.Provider);
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
