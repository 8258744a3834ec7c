import { StreamCollector } from './stream-collector';

describe('StreamCollector', () => {
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

  it('answers an empty stream', () => {
    expect(new StreamCollector('f').answer(3_000)).toMatchObject({ id: 'f', created: 3, text: '' });
  });
});
