import type { ReplyPiece } from '@aigw/core';
import { cutPiece } from './piece-cut';

/** What a client makes of the pieces: each field's slices appended, in order. */
function joined(parts: ReplyPiece[]): Record<string, string> {
  const out: Record<string, string> = { text: '', reasoning: '', refusal: '', args0: '', args1: '' };
  for (const p of parts) {
    out.text += p.text;
    out.reasoning += p.reasoning ?? '';
    out.refusal += p.refusal ?? '';
    for (const c of p.toolCalls ?? []) {
      out[`args${c.index}`] += c.arguments ?? '';
    }
  }
  return out;
}

describe('cutPiece', () => {
  it('keeps the sources of a cut piece, whole, on a piece of their own before the rest', () => {
    const annotations = [{ type: 'url_citation', url_citation: { url: 'https://a.example', title: 'A' } }];
    const parts = cutPiece(
      { text: 'abcdefghij', citations: ['https://a.example'], searchResults: [{ title: 'A' }], annotations },
      4,
    );
    expect(parts[0]).toEqual({
      text: '',
      citations: ['https://a.example'],
      searchResults: [{ title: 'A' }],
      annotations,
    });
    expect(joined(parts).text).toBe('abcdefghij');
    expect(parts.slice(1).every((p) => p.citations === undefined && p.annotations === undefined)).toBe(true);
  });

  it('cuts every long field into slices a client appends back, in the order the gateway relays them', () => {
    const piece: ReplyPiece = {
      text: 'abcdefghij',
      reasoning: 'think it',
      refusal: 'no',
      logprobs: { content: [] },
      toolCalls: [
        { index: 0, id: 'call_a', name: 'f', arguments: '{"a":"0123456789"}' },
        { index: 1, id: 'call_b', name: 'g', arguments: '{}' },
      ],
      finishReason: 'tool_calls',
    };
    const parts = cutPiece(piece, 4);
    expect(parts.every((p) => [p.text, p.reasoning ?? '', p.refusal ?? ''].every((s) => s.length <= 4))).toBe(true);
    expect(joined(parts)).toEqual({
      text: 'abcdefghij',
      reasoning: 'think it',
      refusal: 'no',
      args0: '{"a":"0123456789"}',
      args1: '{}',
    });
    // Reasoning leads, then text (its logprobs on its last slice), refusal, the tool calls; finish reason last.
    expect(parts[0]).toEqual({ text: '', reasoning: 'thin' });
    expect(parts[4]).toEqual({ text: 'ij', logprobs: { content: [] } });
    const calls = parts.flatMap((p) => p.toolCalls ?? []);
    expect(calls[0]).toEqual({ index: 0, id: 'call_a', name: 'f', arguments: '{"a"' });
    expect(calls[1]).toEqual({ index: 0, arguments: ':"01' });
    expect(calls.at(-1)).toEqual({ index: 1, id: 'call_b', name: 'g', arguments: '{}' });
    expect(parts.filter((p) => p.finishReason !== undefined)).toEqual([parts.at(-1)]);
    expect(parts.at(-1)?.finishReason).toBe('tool_calls');
  });

  it('never cuts between the halves of a surrogate pair', () => {
    const parts = cutPiece({ text: 'ab😀cd' }, 3);
    expect(parts.map((p) => p.text)).toEqual(['ab', '😀c', 'd']);
  });

  it('keeps what cannot be cut whole: a signature, a redacted block, logprobs without text', () => {
    const parts = cutPiece({ text: '', reasoningSignature: 'sig-long', logprobs: [1, 2], finishReason: null }, 2);
    expect(parts).toEqual([
      { text: '', reasoningSignature: 'sig-long' },
      { text: '', logprobs: [1, 2], finishReason: null },
    ]);
  });
});
