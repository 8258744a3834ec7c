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
