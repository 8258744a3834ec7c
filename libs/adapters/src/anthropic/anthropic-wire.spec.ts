import { ErrorClass, type ProviderCallError, type StreamDelta } from '@aigw/core';
import { AnthropicStreamDecoder, anthropicUsage, readMessage } from './anthropic-wire';

function thrown(fn: () => unknown): ProviderCallError {
  try {
    fn();
  } catch (err) {
    return err as ProviderCallError;
  }
  throw new Error('expected a throw');
}

function decodeAll(events: [string, unknown][]): { deltas: StreamDelta[]; done: boolean } {
  const decoder = new AnthropicStreamDecoder();
  const deltas: StreamDelta[] = [];
  let done = false;
  for (const [event, data] of events) {
    done = decoder.onEvent({ event, data: JSON.stringify(data) }, deltas);
  }
  return { deltas, done };
}

describe('anthropicUsage', () => {
  it('counts cache reads and writes as prompt tokens and reports reads as cached', () => {
    expect(
      anthropicUsage({
        input_tokens: 10,
        cache_read_input_tokens: 100,
        cache_creation_input_tokens: 5,
        output_tokens: 7,
      }),
    ).toEqual({ promptTokens: 115, completionTokens: 7, totalTokens: 122, cachedPromptTokens: 100 });
  });
});

describe('readMessage', () => {
  it('joins text blocks and maps the stop reason', () => {
    const r = readMessage(
      {
        id: 'msg_1',
        type: 'message',
        role: 'assistant',
        content: [
          { type: 'text', text: 'Hello ' },
          { type: 'tool_use', id: 't', name: 'x', input: {} },
          { type: 'text', text: 'world' },
        ],
        stop_reason: 'max_tokens',
        usage: { input_tokens: 3, output_tokens: 2 },
      },
      200,
    );
    expect(r).toMatchObject({ id: 'msg_1', text: 'Hello world', finishReason: 'length' });
    expect(r.usage).toEqual({ promptTokens: 3, completionTokens: 2, totalTokens: 5, cachedPromptTokens: 0 });
  });

  it('turns an error body into a classified error', () => {
    const e = thrown(() =>
      readMessage({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }, 200),
    );
    expect(e.errorClass).toBe(ErrorClass.Provider);
    expect(e.message).toContain('Overloaded');
  });
});

describe('AnthropicStreamDecoder', () => {
  it('yields text deltas and one final delta with finish reason and cumulative usage', () => {
    const { deltas, done } = decodeAll([
      [
        'message_start',
        {
          type: 'message_start',
          message: { id: 'msg_9', usage: { input_tokens: 20, cache_read_input_tokens: 30, output_tokens: 1 } },
        },
      ],
      ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }],
      ['ping', { type: 'ping' }],
      ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hi' } }],
      [
        'content_block_delta',
        { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: '{' } },
      ],
      ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: ' there' } }],
      ['content_block_stop', { type: 'content_block_stop', index: 0 }],
      ['message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 6 } }],
      ['message_stop', { type: 'message_stop' }],
    ]);
    expect(done).toBe(true);
    expect(deltas).toEqual([
      { text: 'Hi', id: 'msg_9' },
      { text: ' there' },
      {
        text: '',
        finishReason: 'stop',
        usage: { promptTokens: 50, completionTokens: 6, totalTokens: 56, cachedPromptTokens: 30 },
      },
    ]);
  });

  it.each([
    ['overloaded_error', ErrorClass.Provider],
    ['rate_limit_error', ErrorClass.RateLimit],
    ['api_error', ErrorClass.Provider],
  ])('event: error of type %s -> %s', (type, expected) => {
    const e = thrown(() => decodeAll([['error', { type: 'error', error: { type, message: 'boom' } }]]));
    expect(e.errorClass).toBe(expected);
    expect(e.message).toContain('boom');
  });
});
