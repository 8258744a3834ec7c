import { StreamCollector } from './stream-collector';

describe('StreamCollector', () => {
  it('keeps the sources: the service tier of the head, the last citations and search results, every annotation', () => {
    const c = new StreamCollector('fallback');
    const a1 = { type: 'url_citation', url_citation: { url: 'https://a.example' } };
    const a2 = { type: 'url_citation', url_citation: { url: 'https://b.example' } };
    expect(c.add({ text: 'Hi', id: 'c1', serviceTier: 'flex', citations: ['https://a.example'] }, 5_000)).toEqual({
      id: 'c1',
      created: 5,
      serviceTier: 'flex',
    });
    c.add({ text: '', annotations: [a1], searchResults: [{ title: 'A' }] }, 5_000);
    c.add({ text: '', annotations: [a2], citations: ['https://a.example', 'https://b.example'] }, 5_000);
    expect(c.answer(6_000)).toMatchObject({
      text: 'Hi',
      serviceTier: 'flex',
      citations: ['https://a.example', 'https://b.example'],
      searchResults: [{ title: 'A' }],
      annotations: [a1, a2],
    });
  });

  it('fixes id and creation time at the first delta and keeps the last usage', () => {
    const c = new StreamCollector('fallback');
    expect(c.add({ text: 'Hel', id: 'cmpl-1' }, 5_000)).toEqual({ id: 'cmpl-1', created: 5 });
    expect(c.add({ text: 'lo', id: 'cmpl-other' }, 6_000)).toBeUndefined();
    c.add(
      {
        text: '',
        finishReason: 'stop',
        usage: { promptTokens: 1, completionTokens: 1, totalTokens: 2, cachedPromptTokens: 0 },
      },
      7_000,
    );
    c.add({ text: '', usage: { promptTokens: 3, completionTokens: 2, totalTokens: 5, cachedPromptTokens: 1 } }, 7_000);
    expect(c.answer(9_000)).toEqual({
      id: 'cmpl-1',
      created: 5,
      text: 'Hello',
      finishReason: 'stop',
      usage: { promptTokens: 3, completionTokens: 2, totalTokens: 5, cachedPromptTokens: 1 },
    });
  });

  it('falls back to its own id and zero usage when the provider sends neither', () => {
    const c = new StreamCollector('chatcmpl-req_1');
    expect(c.add({ text: 'x' }, 1_000)).toEqual({ id: 'chatcmpl-req_1', created: 1 });
    expect(c.answer(2_000)).toMatchObject({
      id: 'chatcmpl-req_1',
      finishReason: null,
      usage: { promptTokens: 0, completionTokens: 0, totalTokens: 0, cachedPromptTokens: 0 },
    });
  });

  it("heads the stream with the provider's created time and fingerprint when its first delta has them", () => {
    const c = new StreamCollector('f');
    expect(c.add({ text: 'a', id: 'up-1', created: 1_700_000_123, systemFingerprint: 'fp_1' }, 5_000)).toEqual({
      id: 'up-1',
      created: 1_700_000_123,
      systemFingerprint: 'fp_1',
    });
    expect(c.answer(9_000)).toMatchObject({ id: 'up-1', created: 1_700_000_123, systemFingerprint: 'fp_1' });
    // Without them, the time the first delta arrived.
    expect(new StreamCollector('g').add({ text: 'a' }, 5_000)).toEqual({ id: 'g', created: 5 });
  });

  it('answers an empty stream', () => {
    expect(new StreamCollector('f').answer(3_000)).toMatchObject({ id: 'f', created: 3, text: '' });
  });

  it('assembles tool calls from indexed fragments, with reasoning, refusal and the first fingerprint', () => {
    const c = new StreamCollector('f');
    c.add({ text: '', reasoning: 'think', systemFingerprint: 'fp_1' }, 1_000);
    c.add({ text: '', toolCalls: [{ index: 1, id: 'call_b', name: 'now', arguments: '' }] }, 1_000);
    c.add({ text: '', toolCalls: [{ index: 0, id: 'call_a', name: 'get', arguments: '{"c' }] }, 1_000);
    c.add(
      {
        text: '',
        toolCalls: [
          { index: 0, arguments: 'ity":1}' },
          { index: 1, arguments: '{}' },
        ],
      },
      1_000,
    );
    c.add({ text: '', reasoning: 'ing', refusal: 'no', systemFingerprint: 'fp_2', finishReason: 'tool_calls' }, 1_000);
    expect(c.answer(2_000)).toMatchObject({
      text: '',
      finishReason: 'tool_calls',
      reasoning: 'thinking',
      refusal: 'no',
      systemFingerprint: 'fp_1',
      toolCalls: [
        { id: 'call_a', type: 'function', function: { name: 'get', arguments: '{"city":1}' } },
        { id: 'call_b', type: 'function', function: { name: 'now', arguments: '{}' } },
      ],
    });
  });
  it('assembles signed thinking blocks: each signature ends the reasoning since the last one', () => {
    const c = new StreamCollector('f');
    c.add({ text: '', reasoning: 'one ' }, 1_000);
    c.add({ text: '', reasoning: 'two' }, 1_000);
    c.add({ text: '', reasoningSignature: 'sig-1' }, 1_000);
    c.add({ text: '', redactedReasoning: 'opaque' }, 1_000);
    c.add({ text: '', reasoning: 'three' }, 1_000);
    c.add({ text: '', reasoningSignature: 'sig-2' }, 1_000);
    c.add({ text: 'Answer', finishReason: 'stop' }, 1_000);
    expect(c.answer(2_000)).toMatchObject({
      text: 'Answer',
      reasoning: 'one twothree',
      thinkingBlocks: [
        { type: 'thinking', thinking: 'one two', signature: 'sig-1' },
        { type: 'redacted_thinking', data: 'opaque' },
        { type: 'thinking', thinking: 'three', signature: 'sig-2' },
      ],
    });
    // Reasoning nobody signed (other families) makes no blocks.
    const plain = new StreamCollector('g');
    plain.add({ text: '', reasoning: 'hm' }, 1_000);
    expect(plain.answer(2_000)).not.toHaveProperty('thinkingBlocks');
  });
});
