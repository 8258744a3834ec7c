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
  const decoder = new AnthropicStreamDecoder(undefined);
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
    ).toEqual({
      promptTokens: 115,
      completionTokens: 7,
      totalTokens: 122,
      cachedPromptTokens: 100,
      cacheWritePromptTokens: 5,
    });
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
      undefined,
    );
    expect(r).toMatchObject({ id: 'msg_1', text: 'Hello world', finishReason: 'length' });
    expect(r.usage).toEqual({ promptTokens: 3, completionTokens: 2, totalTokens: 5, cachedPromptTokens: 0 });
  });

  it('turns an error body into a classified error', () => {
    const e = thrown(() =>
      readMessage({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }, 200, undefined),
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
      // message_start's counts ride on the first delta, so the stream's start can say its input tokens.
      {
        text: 'Hi',
        id: 'msg_9',
        usage: { promptTokens: 50, completionTokens: 1, totalTokens: 51, cachedPromptTokens: 30 },
      },
      { text: ' there' },
      {
        text: '',
        finishReason: 'stop',
        anthropicStopReason: 'end_turn',
        usage: { promptTokens: 50, completionTokens: 6, totalTokens: 56, cachedPromptTokens: 30 },
      },
    ]);
  });

  it.each([
    ['pause_turn', 'stop'],
    ['model_context_window_exceeded', 'length'],
    ['refusal', 'content_filter'],
  ])('keeps the stop reason %s as Anthropic gave it beside its finish reason %s', (stopReason, finishReason) => {
    const { deltas } = decodeAll([
      ['message_start', { type: 'message_start', message: { id: 'msg_p', usage: { input_tokens: 5 } } }],
      ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }],
      ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'So' } }],
      ['content_block_stop', { type: 'content_block_stop', index: 0 }],
      ['message_delta', { type: 'message_delta', delta: { stop_reason: stopReason }, usage: { output_tokens: 1 } }],
      ['message_stop', { type: 'message_stop' }],
    ]);
    expect(deltas.at(-1)).toMatchObject({ finishReason, anthropicStopReason: stopReason });
    const whole = readMessage(
      { id: 'msg_p', type: 'message', content: [{ type: 'text', text: 'So' }], stop_reason: stopReason },
      200,
      undefined,
    );
    expect(whole).toMatchObject({ finishReason, anthropicStopReason: stopReason });
  });

  it('keeps no stop reason that is not a word of Anthropic vocabulary', () => {
    const whole = readMessage(
      { id: 'msg_p', type: 'message', content: [], stop_reason: 'Stopped: <b>why</b>' },
      200,
      undefined,
    );
    expect(whole.finishReason).toBe('stop');
    expect(whole.anthropicStopReason).toBeUndefined();
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

describe('tool use, both directions of the wire', () => {
  it('reads tool_use blocks as OpenAI tool calls and thinking as reasoning', () => {
    const r = readMessage(
      {
        id: 'msg_1',
        type: 'message',
        content: [
          { type: 'thinking', thinking: 'user wants weather', signature: 'sig' },
          { type: 'text', text: 'Checking.' },
          { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Oslo' } },
          { type: 'tool_use', id: 'toolu_2', name: 'now', input: {} },
        ],
        stop_reason: 'tool_use',
        usage: { input_tokens: 10, output_tokens: 5, cache_creation_input_tokens: 3 },
      },
      200,
      undefined,
    );
    expect(r).toMatchObject({
      text: 'Checking.',
      finishReason: 'tool_calls',
      reasoning: 'user wants weather',
      toolCalls: [
        { id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } },
        { id: 'toolu_2', type: 'function', function: { name: 'now', arguments: '{}' } },
      ],
      usage: { promptTokens: 13, cacheWritePromptTokens: 3, cachedPromptTokens: 0 },
    });
  });

  it('streams tool_use blocks as indexed tool-call deltas (input_json_delta pieces as arguments)', () => {
    const { deltas, done } = decodeAll([
      ['message_start', { type: 'message_start', message: { id: 'msg_2', usage: { input_tokens: 9 } } }],
      ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }],
      ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hm.' } }],
      ['content_block_stop', { type: 'content_block_stop', index: 0 }],
      [
        'content_block_start',
        {
          type: 'content_block_start',
          index: 1,
          content_block: { type: 'tool_use', id: 'toolu_a', name: 'get_weather', input: {} },
        },
      ],
      [
        'content_block_delta',
        { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"city":' } },
      ],
      [
        'content_block_delta',
        { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '"Oslo"}' } },
      ],
      ['content_block_stop', { type: 'content_block_stop', index: 1 }],
      [
        'content_block_start',
        { type: 'content_block_start', index: 2, content_block: { type: 'tool_use', id: 'toolu_b', name: 'now' } },
      ],
      ['content_block_stop', { type: 'content_block_stop', index: 2 }],
      ['message_delta', { type: 'message_delta', delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 12 } }],
      ['message_stop', { type: 'message_stop' }],
    ]);
    expect(done).toBe(true);
    expect(deltas).toEqual([
      {
        text: 'Hm.',
        id: 'msg_2',
        usage: { promptTokens: 9, completionTokens: 0, totalTokens: 9, cachedPromptTokens: 0 },
      },
      { text: '', toolCalls: [{ index: 0, id: 'toolu_a', name: 'get_weather', arguments: '' }] },
      { text: '', toolCalls: [{ index: 0, arguments: '{"city":' }] },
      { text: '', toolCalls: [{ index: 0, arguments: '"Oslo"}' }] },
      { text: '', toolCalls: [{ index: 1, id: 'toolu_b', name: 'now', arguments: '' }] },
      { text: '', toolCalls: [{ index: 1, arguments: '{}' }] },
      {
        text: '',
        finishReason: 'tool_calls',
        anthropicStopReason: 'tool_use',
        usage: { promptTokens: 9, completionTokens: 12, totalTokens: 21, cachedPromptTokens: 0 },
      },
    ]);
  });

  it('keeps text and thinking given in a content_block_start, as the SDKs do (some compatible servers send them)', () => {
    const { deltas } = decodeAll([
      ['message_start', { type: 'message_start', message: { id: 'msg_s' } }],
      [
        'content_block_start',
        { type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: 'Let', signature: '' } },
      ],
      [
        'content_block_delta',
        { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: ' me see' } },
      ],
      ['content_block_stop', { type: 'content_block_stop', index: 0 }],
      ['content_block_start', { type: 'content_block_start', index: 1, content_block: { type: 'text', text: 'Hel' } }],
      ['content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: 'lo' } }],
      ['content_block_stop', { type: 'content_block_stop', index: 1 }],
    ]);
    expect(deltas).toEqual([
      { text: '', reasoning: 'Let', id: 'msg_s' },
      { text: '', reasoning: ' me see' },
      { text: 'Hel' },
      { text: 'lo' },
    ]);
  });

  it('keeps a thinking block given whole in its content_block_start, signature included, as one signed block', () => {
    const start = (index: number, signature: string): [string, unknown] => [
      'content_block_start',
      { type: 'content_block_start', index, content_block: { type: 'thinking', thinking: 'Hmm', signature } },
    ];
    const stop = (index: number): [string, unknown] => ['content_block_stop', { type: 'content_block_stop', index }];
    const { deltas } = decodeAll([
      ['message_start', { type: 'message_start', message: { id: 'msg_w' } }],
      start(0, 'sig-whole'),
      stop(0),
      // A signature_delta supersedes the start's: the block is signed once.
      start(1, 'sig-old'),
      [
        'content_block_delta',
        { type: 'content_block_delta', index: 1, delta: { type: 'signature_delta', signature: 'sig-new' } },
      ],
      stop(1),
    ]);
    expect(deltas).toEqual([
      { text: '', reasoning: 'Hmm', id: 'msg_w' },
      { text: '', reasoningSignature: 'sig-whole' },
      { text: '', reasoning: 'Hmm' },
      { text: '', reasoningSignature: 'sig-new' },
    ]);
  });

  it('streams thinking_delta as reasoning', () => {
    const { deltas } = decodeAll([
      ['message_start', { type: 'message_start', message: { id: 'msg_3' } }],
      ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'thinking' } }],
      [
        'content_block_delta',
        { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'hmm' } },
      ],
    ]);
    expect(deltas).toEqual([{ text: '', reasoning: 'hmm', id: 'msg_3' }]);
  });
  it('keeps signed and redacted thinking blocks, whole and streamed', () => {
    const r = readMessage(
      {
        id: 'msg_4',
        type: 'message',
        content: [
          { type: 'thinking', thinking: 'first', signature: 'sig-a' },
          { type: 'redacted_thinking', data: 'opaque' },
          { type: 'text', text: 'Done.' },
        ],
        stop_reason: 'end_turn',
      },
      200,
      undefined,
    );
    expect(r).toMatchObject({
      reasoning: 'first',
      thinkingBlocks: [
        { type: 'thinking', thinking: 'first', signature: 'sig-a' },
        { type: 'redacted_thinking', data: 'opaque' },
      ],
    });
    const { deltas } = decodeAll([
      ['message_start', { type: 'message_start', message: { id: 'msg_5' } }],
      [
        'content_block_start',
        { type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } },
      ],
      [
        'content_block_delta',
        { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'fir' } },
      ],
      [
        'content_block_delta',
        { type: 'content_block_delta', index: 0, delta: { type: 'signature_delta', signature: 'sig-a' } },
      ],
      ['content_block_stop', { type: 'content_block_stop', index: 0 }],
      [
        'content_block_start',
        { type: 'content_block_start', index: 1, content_block: { type: 'redacted_thinking', data: 'opaque' } },
      ],
      ['content_block_stop', { type: 'content_block_stop', index: 1 }],
    ]);
    expect(deltas).toEqual([
      { text: '', reasoning: 'fir', id: 'msg_5' },
      { text: '', reasoningSignature: 'sig-a' },
      { text: '', redactedReasoning: 'opaque' },
    ]);
  });
});
