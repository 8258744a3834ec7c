import type { StreamDelta } from '@aigw/core';
import { readGeneration, TgiStreamDecoder } from './tgi-wire';

const token = (text: string, details?: object): string =>
  JSON.stringify({
    token: { id: 1, text, special: false },
    generated_text: details === undefined ? null : 'x',
    details: details ?? null,
  });

function decode(stops: string[] | undefined, tokens: string[], reason: string): StreamDelta[] {
  const decoder = new TgiStreamDecoder(stops, undefined);
  const out: StreamDelta[] = [];
  tokens.forEach((t, i) => {
    const last = i === tokens.length - 1;
    decoder.onEvent(
      {
        event: 'message',
        data: token(t, last ? { finish_reason: reason, generated_tokens: tokens.length } : undefined),
      },
      out,
    );
  });
  return out;
}

describe('TGI stop sequences (TGI keeps the one that ended the text; OpenAI clients expect it cut)', () => {
  it('cuts it from a whole answer and names it', () => {
    const r = readGeneration(
      { generated_text: 'one two END', details: { finish_reason: 'stop_sequence', generated_tokens: 3 } },
      200,
      ['###', 'END'],
      undefined,
    );
    expect(r).toMatchObject({ text: 'one two ', finishReason: 'stop', stopSequence: 'END' });
    // Ended otherwise: the text is the model's, even when it happens to end like a stop sequence.
    expect(
      readGeneration({ generated_text: 'one END', details: { finish_reason: 'eos_token' } }, 200, ['END'], undefined)
        .text,
    ).toBe('one END');
  });

  it('never relays it in a stream, and holds back only what may begin one', () => {
    const deltas = decode(['</answer>'], ['The', ' result', ' <', '/ans', 'wer', '>'], 'stop_sequence');
    expect(deltas.map((d) => d.text).join('')).toBe('The result ');
    expect(deltas.at(-1)).toMatchObject({ finishReason: 'stop', stopSequence: '</answer>' });
    // Text that began like a stop sequence but was not one goes out once that is known.
    const released = decode(['</answer>'], ['a <', '/b', '> c'], 'eos_token');
    expect(released.map((d) => d.text)).toEqual(['a ', '</b', '> c']);
    // Without stop sequences every token goes out as it comes.
    expect(decode(undefined, ['a', 'b'], 'eos_token').map((d) => d.text)).toEqual(['a', 'b']);
  });
});
