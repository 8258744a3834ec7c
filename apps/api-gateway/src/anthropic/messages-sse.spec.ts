import { EMPTY_USAGE, type GenerationResult } from '@aigw/core';
import { anthropicMessageBody } from './messages-response';
import { AnthropicStreamEncoder } from './messages-sse';

/** The `data` of each SSE event in `sse`, in order. */
function events(sse: string): unknown[] {
  return sse
    .split('\n\n')
    .filter((e) => e !== '')
    .map((e) => JSON.parse(e.split('\n')[1].slice('data: '.length)) as unknown);
}

type Ev = { type: string; index?: number; content_block?: Record<string, unknown>; delta?: Record<string, string> };

/**
 * The content blocks as a client assembles them, checking Anthropic's wire rules on the way: one block open at a
 * time, indexes in order from 0, every delta to the open block.
 */
function assembled(sse: string): Record<string, unknown>[] {
  const blocks: Record<string, unknown>[] = [];
  const json: string[] = [];
  let open: number | null = null;
  for (const e of events(sse) as Ev[]) {
    if (e.type === 'content_block_start') {
      expect(open).toBeNull();
      expect(e.index).toBe(blocks.length);
      open = e.index ?? -1;
      blocks.push({ ...e.content_block });
      json.push('');
    } else if (e.type === 'content_block_delta') {
      expect(e.index).toBe(open);
      const block = blocks[open ?? -1];
      const d = e.delta ?? {};
      if (d.type === 'input_json_delta') {
        json[open ?? -1] += d.partial_json;
      } else if (d.type === 'text_delta') {
        block.text = String(block.text) + d.text;
      }
    } else if (e.type === 'content_block_stop') {
      expect(e.index).toBe(open);
      if (blocks[open ?? -1].type === 'tool_use') {
        const text = json[open ?? -1];
        blocks[open ?? -1].input = text === '' ? {} : (JSON.parse(text) as unknown);
      }
      open = null;
    }
  }
  expect(open).toBeNull();
  return blocks;
}

const head = { id: 'c', created: 1, provider: 'p', model: 'm', route: 'direct', attempts: 1 } as const;
const result: GenerationResult = {
  requestId: 'r',
  id: 'c',
  created: 1,
  text: '',
  finishReason: 'tool_calls',
  provider: 'p',
  model: 'm',
  route: 'direct',
  usage: { ...EMPTY_USAGE, promptTokens: 1, completionTokens: 1, totalTokens: 2 },
  costUsd: 0,
  latencyMs: 1,
  providerLatencyMs: 1,
  attempts: [],
};

describe('AnthropicStreamEncoder', () => {
  it('gives interleaved parallel tool calls sequential blocks with their whole arguments', () => {
    const enc = new AnthropicStreamEncoder(head);
    const sse = [
      enc.toolCalls([{ index: 0, id: 'call_a', name: 'weather', arguments: '{"city":' }]),
      enc.toolCalls([{ index: 1, id: 'call_b', name: 'time', arguments: '{"zone":' }]),
      enc.toolCalls([{ index: 0, arguments: '"Oslo"}' }]),
      enc.toolCalls([
        { index: 1, arguments: '"CET"}' },
        { index: 2, id: 'call_c', name: 'news', arguments: '{}' },
      ]),
      enc.end(result, 'tool_calls'),
    ].join('');
    expect(assembled(sse)).toEqual([
      { type: 'tool_use', id: 'call_a', name: 'weather', input: { city: 'Oslo' } },
      { type: 'tool_use', id: 'call_b', name: 'time', input: { zone: 'CET' } },
      { type: 'tool_use', id: 'call_c', name: 'news', input: {} },
    ]);
  });

  it('streams the first tool call live, and text after the calls in a block of its own', () => {
    const enc = new AnthropicStreamEncoder(head);
    const first = enc.toolCalls([{ index: 0, id: 'call_a', name: 'weather', arguments: '{"city":' }]);
    expect(events(first)).toEqual([
      {
        type: 'content_block_start',
        index: 0,
        content_block: { type: 'tool_use', id: 'call_a', name: 'weather', input: {} },
      },
      { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: '{"city":' } },
    ]);
    const sse = [
      first,
      enc.toolCalls([{ index: 0, arguments: '"Oslo"}' }]),
      enc.toolCalls([{ index: 1, id: 'call_b', name: 'time' }]),
      enc.toolCalls([{ index: 1, arguments: '{"zone":"CET"}' }]),
      enc.content('Done.'),
      enc.end(result, 'tool_calls'),
    ].join('');
    expect(assembled(sse)).toEqual([
      { type: 'tool_use', id: 'call_a', name: 'weather', input: { city: 'Oslo' } },
      { type: 'tool_use', id: 'call_b', name: 'time', input: { zone: 'CET' } },
      { type: 'text', text: 'Done.' },
    ]);
  });

  it('streams each of parallel calls sent one after another as its arguments arrive', () => {
    const enc = new AnthropicStreamEncoder(head);
    const steps = [
      enc.toolCalls([{ index: 0, id: 'call_a', name: 'weather', arguments: '' }]),
      enc.toolCalls([{ index: 0, arguments: '{"city":' }]),
      enc.toolCalls([{ index: 0, arguments: '"Oslo"}' }]),
      enc.toolCalls([{ index: 1, id: 'call_b', name: 'time', arguments: '' }]),
      enc.toolCalls([{ index: 1, arguments: '{"zone":' }]),
      enc.toolCalls([{ index: 1, arguments: '"CET"}' }]),
      enc.end(result, 'tool_calls'),
    ];
    // Each fragment leaves as it came: the second call's block opens when it starts, the first one's input being whole.
    expect(steps.slice(0, 6).map((sse) => (events(sse) as Ev[]).map((e) => `${e.type} ${e.index}`))).toEqual([
      ['content_block_start 0'],
      ['content_block_delta 0'],
      ['content_block_delta 0'],
      ['content_block_stop 0', 'content_block_start 1'],
      ['content_block_delta 1'],
      ['content_block_delta 1'],
    ]);
    expect(assembled(steps.join(''))).toEqual([
      { type: 'tool_use', id: 'call_a', name: 'weather', input: { city: 'Oslo' } },
      { type: 'tool_use', id: 'call_b', name: 'time', input: { zone: 'CET' } },
    ]);
  });

  it('opens a call that waited once the open call is whole, with what it gathered, then streams it', () => {
    const enc = new AnthropicStreamEncoder(head);
    enc.toolCalls([{ index: 0, id: 'call_a', name: 'search', arguments: '{"q":"a } \\" {' }]);
    // The open call's input is not whole (the brace and quote are inside its string): the new call waits.
    expect(enc.toolCalls([{ index: 1, id: 'call_b', name: 'time', arguments: '{"zone":' }])).toBe('');
    expect(enc.toolCalls([{ index: 1, arguments: '"CET"' }])).toBe('');
    const whole = events(enc.toolCalls([{ index: 0, arguments: '"}' }]));
    expect(whole).toEqual([
      { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: '"}' } },
      { type: 'content_block_stop', index: 0 },
      {
        type: 'content_block_start',
        index: 1,
        content_block: { type: 'tool_use', id: 'call_b', name: 'time', input: {} },
      },
      { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"zone":"CET"' } },
    ]);
    expect(events(enc.toolCalls([{ index: 1, arguments: '}' }]))).toEqual([
      { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '}' } },
    ]);
    expect(events(enc.end(result, 'tool_calls')).map((e) => (e as Ev).type)).toEqual([
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
  });

  it('keeps the block of a call whose input never becomes whole; the calls that waited follow it whole', () => {
    const enc = new AnthropicStreamEncoder(head);
    const sse = [
      enc.toolCalls([{ index: 0, id: 'call_a', name: 'a', arguments: '{"x":1}' }]),
      // Text after the object: not JSON any more, so nothing says the call is over.
      enc.toolCalls([{ index: 0, arguments: ' oops' }]),
      enc.toolCalls([{ index: 1, id: 'call_b', name: 'b', arguments: '{"y":' }]),
      enc.toolCalls([{ index: 2, id: 'call_c', name: 'c', arguments: '{}' }]),
      enc.toolCalls([{ index: 1, arguments: '2}' }]),
      enc.end(result, 'tool_calls'),
    ].join('');
    const shown = (events(sse) as Ev[]).map((e) => `${e.type} ${e.index ?? ''} ${e.delta?.partial_json ?? ''}`.trim());
    expect(shown).toEqual([
      'content_block_start 0',
      'content_block_delta 0 {"x":1}',
      'content_block_delta 0  oops',
      'content_block_stop 0',
      'content_block_start 1',
      'content_block_delta 1 {"y":2}',
      'content_block_stop 1',
      'content_block_start 2',
      'content_block_delta 2 {}',
      'content_block_stop 2',
      'message_delta',
      'message_stop',
    ]);
  });

  it('numbers a redacted thinking block after tool calls that waited for their turn', () => {
    const enc = new AnthropicStreamEncoder(head);
    const sse = [
      enc.toolCalls([{ index: 0, id: 'call_a', name: 'a', arguments: '{}' }]),
      enc.toolCalls([{ index: 1, id: 'call_b', name: 'b', arguments: '{}' }]),
      enc.redactedThinking('opaque'),
      enc.wholeToolCalls([{ id: 'call_c', type: 'function', function: { name: 'c', arguments: '{"x":1}' } }]),
      enc.end(result, 'tool_calls'),
    ].join('');
    expect(assembled(sse)).toEqual([
      { type: 'tool_use', id: 'call_a', name: 'a', input: {} },
      { type: 'tool_use', id: 'call_b', name: 'b', input: {} },
      { type: 'redacted_thinking', data: 'opaque' },
      { type: 'tool_use', id: 'call_c', name: 'c', input: { x: 1 } },
    ]);
  });

  it('streams thinking as Anthropic does: deltas, the signature last, then the block closes', () => {
    const enc = new AnthropicStreamEncoder({
      id: 'c',
      created: 1,
      provider: 'p',
      model: 'm',
      route: 'direct',
      attempts: 1,
    });
    const sse = [
      enc.reasoning('hm'),
      enc.thinkingSignature('sig-1'),
      enc.redactedThinking('opaque'),
      enc.content('Hi'),
    ].join('');
    expect(events(sse)).toEqual([
      {
        type: 'content_block_start',
        index: 0,
        content_block: { type: 'thinking', thinking: '', signature: '' },
      },
      { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'hm' } },
      { type: 'content_block_delta', index: 0, delta: { type: 'signature_delta', signature: 'sig-1' } },
      { type: 'content_block_stop', index: 0 },
      { type: 'content_block_start', index: 1, content_block: { type: 'redacted_thinking', data: 'opaque' } },
      { type: 'content_block_stop', index: 1 },
      { type: 'content_block_start', index: 2, content_block: { type: 'text', text: '' } },
      { type: 'content_block_delta', index: 2, delta: { type: 'text_delta', text: 'Hi' } },
    ]);
  });
});

describe('stop_reason of an answer that called tools', () => {
  const call = { id: 'call_1', type: 'function' as const, function: { name: 'get_weather', arguments: '{}' } };
  const stopReasonOf = (sse: string): unknown =>
    (events(sse) as { type: string; delta?: { stop_reason?: string } }[]).find((e) => e.type === 'message_delta')?.delta
      ?.stop_reason;

  it("is tool_use also when the provider said 'stop' (OpenAI forcing a function, vLLM): the client runs the tools", () => {
    // OpenAI answers a request whose tool_choice names a function with finish_reason "stop" and the call.
    const forced: GenerationResult = { ...result, finishReason: 'stop', toolCalls: [call] };
    expect(anthropicMessageBody(forced).stop_reason).toBe('tool_use');
    const enc = new AnthropicStreamEncoder(head);
    const sse = enc.start() + enc.toolCalls([{ index: 0, id: 'call_1', name: 'get_weather', arguments: '{}' }]);
    expect(stopReasonOf(sse + enc.end(forced, 'stop'))).toBe('tool_use');
    // Cut at the token limit it stays max_tokens; without calls, a stop is end_turn.
    expect(anthropicMessageBody({ ...forced, finishReason: 'length' }).stop_reason).toBe('max_tokens');
    expect(anthropicMessageBody({ ...result, finishReason: 'stop', text: 'Hi' }).stop_reason).toBe('end_turn');
  });

  it.each(['pause_turn', 'model_context_window_exceeded', 'refusal', 'end_turn'])(
    "is an Anthropic provider's own %s as it gave it, whole and streamed",
    (anthropicStopReason) => {
      const paused: GenerationResult = { ...result, finishReason: 'stop', text: 'Searching', anthropicStopReason };
      expect(anthropicMessageBody(paused).stop_reason).toBe(anthropicStopReason);
      const enc = new AnthropicStreamEncoder(head);
      expect(stopReasonOf(enc.start() + enc.content('Searching') + enc.end(paused, 'stop'))).toBe(anthropicStopReason);
    },
  );
});
