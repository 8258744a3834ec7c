import { AnthropicStreamEncoder } from './messages-sse';

/** The `data` of each SSE event in `sse`, in order. */
function events(sse: string): unknown[] {
  return sse
    .split('\n\n')
    .filter((e) => e !== '')
    .map((e) => JSON.parse(e.split('\n')[1].slice('data: '.length)) as unknown);
}

describe('AnthropicStreamEncoder', () => {
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
