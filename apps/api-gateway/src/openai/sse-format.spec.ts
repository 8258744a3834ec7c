import { EMPTY_USAGE, ErrorCode } from '@aigw/core';
import type { StreamHead } from '../generation/stream-relay';
import { ChunkFormatter, openAiStream, OpenAiStreamEncoder, SSE_DONE, sseError } from './sse-format';

function payload(event: string): unknown {
  expect(event.startsWith('data: ')).toBe(true);
  expect(event.endsWith('\n\n')).toBe(true);
  return JSON.parse(event.slice('data: '.length, -2));
}

describe('ChunkFormatter', () => {
  const f = new ChunkFormatter('chatcmpl-1', 1700000000, 'sim/gpt "quoted"');
  const common = { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1700000000, model: 'sim/gpt "quoted"' };

  it('opens with the assistant role', () => {
    expect(payload(f.role())).toEqual({
      ...common,
      choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }],
    });
  });

  it('escapes content safely, newlines included (one event per chunk)', () => {
    const text = 'line1\n\ndata: [DONE]\n"q" \u2028';
    const event = f.content(text);
    expect(event.slice(0, -2)).not.toContain('\n');
    expect(payload(event)).toEqual({
      ...common,
      choices: [{ index: 0, delta: { content: text }, logprobs: null, finish_reason: null }],
    });
  });

  it('finishes with an empty delta and the reason', () => {
    expect(payload(f.finish('length'))).toEqual({
      ...common,
      choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: 'length' }],
    });
  });

  it('reports usage with no choices', () => {
    expect(payload(f.usage({ promptTokens: 3, completionTokens: 5, totalTokens: 8, cachedPromptTokens: 1 }))).toEqual({
      ...common,
      choices: [],
      usage: { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8, prompt_tokens_details: { cached_tokens: 1 } },
    });
  });

  it("carries the provider's system_fingerprint in every chunk when it sent one", () => {
    const stamped = new ChunkFormatter('chatcmpl-1', 1700000000, 'sim/gpt "quoted"', 'fp_"1"');
    for (const event of [stamped.role(), stamped.content('x'), stamped.finish('stop'), stamped.usage(EMPTY_USAGE)]) {
      expect(payload(event)).toMatchObject({ ...common, system_fingerprint: 'fp_"1"' });
    }
    expect(payload(f.role())).not.toHaveProperty('system_fingerprint');
  });

  it('gives every chunk a null usage when the client asked for the usage chunk, as OpenAI does', () => {
    const head = { id: 'c', created: 1, provider: 'p', model: 'm' } as StreamHead;
    const usage = { promptTokens: 3, completionTokens: 5, totalTokens: 8, cachedPromptTokens: 0 };
    for (const [includeUsage, fmt] of [
      [true, new ChunkFormatter('c', 1, 'm', undefined, true)],
      [false, new ChunkFormatter('c', 1, 'm')],
    ] as const) {
      const chunks = [
        fmt.role(),
        fmt.content('x'),
        fmt.toolCalls([{ index: 0, id: 'call_1', name: 'f', arguments: '{}' }]),
        fmt.reasoning('r'),
        fmt.refusal('no'),
        fmt.thinkingBlock({ type: 'redacted_thinking', data: 'd' }),
        fmt.finish('stop'),
      ].map(payload);
      for (const chunk of chunks) {
        expect(chunk).toMatchObject({ choices: [{ index: 0 }] });
        if (includeUsage) {
          expect(chunk).toHaveProperty('usage', null);
        } else {
          expect(chunk).not.toHaveProperty('usage');
        }
      }
      expect(payload(fmt.usage(usage))).toMatchObject({ choices: [], usage: { total_tokens: 8 } });
    }
    // The factory of the route sets it from stream_options.include_usage.
    expect(payload(openAiStream(true)(head).start())).toHaveProperty('usage', null);
    expect(payload(openAiStream(false)(head).start())).not.toHaveProperty('usage');
  });

  it("gives every chunk a chatcmpl- id, another family's id kept after the prefix", () => {
    const chunkId = (id: string): unknown =>
      (
        payload(openAiStream(false)({ id, created: 1, provider: 'p', model: 'm' } as StreamHead).start()) as {
          id: string;
        }
      ).id;
    expect(chunkId('msg_01XYZ')).toBe('chatcmpl-msg_01XYZ');
    expect(chunkId('gemini-response-7')).toBe('chatcmpl-gemini-response-7');
    expect(chunkId('chatcmpl-9')).toBe('chatcmpl-9');
  });

  it('formats the terminator and error events', () => {
    expect(SSE_DONE).toBe('data: [DONE]\n\n');
    const body = { message: 'boom', type: 'provider_error' as const, code: ErrorCode.ProviderError, param: null };
    expect(payload(sseError(body))).toEqual({ error: body });
  });
});

describe('OpenAiStreamEncoder', () => {
  it('streams reasoning in pieces and each signed block whole once it ends', () => {
    const enc = new OpenAiStreamEncoder(new ChunkFormatter('c', 1, 'm'), false);
    const deltas = [
      enc.reasoning('one '),
      enc.reasoning('two'),
      enc.thinkingSignature('sig-1'),
      enc.redactedThinking('opaque'),
      enc.reasoning('three'),
      enc.thinkingSignature('sig-2'),
    ].map((e) => (payload(e) as { choices: { delta: unknown }[] }).choices[0].delta);
    expect(deltas).toEqual([
      { reasoning_content: 'one ' },
      { reasoning_content: 'two' },
      { thinking_blocks: [{ type: 'thinking', thinking: 'one two', signature: 'sig-1' }] },
      { thinking_blocks: [{ type: 'redacted_thinking', data: 'opaque' }] },
      { reasoning_content: 'three' },
      { thinking_blocks: [{ type: 'thinking', thinking: 'three', signature: 'sig-2' }] },
    ]);
  });
});
