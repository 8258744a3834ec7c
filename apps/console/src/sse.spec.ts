import { foldChatChunk, SseParser, sseEvents, type ChatChunkSummary } from './sse';

function streamOf(parts: string[]): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  return new ReadableStream({
    start(c) {
      for (const p of parts) {
        c.enqueue(enc.encode(p));
      }
      c.close();
    },
  });
}

async function collect(parts: string[]): Promise<string[]> {
  const out: string[] = [];
  for await (const d of sseEvents(streamOf(parts))) {
    out.push(d);
  }
  return out;
}

describe('SseParser', () => {
  it('yields one event per blank line, across arbitrary chunk boundaries', async () => {
    const text = 'data: {"a":1}\n\ndata: {"b":2}\n\ndata: [DONE]\n\n';
    const whole = await collect([text]);
    expect(whole).toEqual(['{"a":1}', '{"b":2}', '[DONE]']);
    // Every split point, including inside "data:" and between the two newlines.
    for (let i = 1; i < text.length; i++) {
      expect(await collect([text.slice(0, i), text.slice(i)])).toEqual(whole);
    }
  });

  it('handles CRLF and CR line ends, a CRLF split between chunks, comments and multi-line data', () => {
    const p = new SseParser();
    expect(p.push(': keep-alive\r\ndata: one\r')).toEqual([]);
    expect(p.push('\ndata: two\r\n\r\n')).toEqual(['one\ntwo']);
    expect(p.push('data:no-space\r\rdata: x\n')).toEqual(['no-space']);
    expect(p.push('event: ping\nid: 3\n\n')).toEqual(['x']);
  });

  it('keeps a multi-byte character split across chunks intact', async () => {
    const bytes = new TextEncoder().encode('data: "héllo ✓"\n\n');
    const cut = bytes.indexOf(0xe2) + 1; // inside the 3-byte check mark
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(bytes.slice(0, cut));
        c.enqueue(bytes.slice(cut));
        c.close();
      },
    });
    const out: string[] = [];
    for await (const d of sseEvents(stream)) {
      out.push(d);
    }
    expect(out).toEqual(['"héllo ✓"']);
  });

  it('delivers a last event the server ended without a blank line', async () => {
    expect(await collect(['data: a\n\ndata: b'])).toEqual(['a', 'b']);
  });
});

describe('foldChatChunk', () => {
  const start: ChatChunkSummary = { text: '', done: false };

  it('joins deltas, takes the usage chunk and stops at [DONE]', () => {
    const chunk = (content: string) => JSON.stringify({ choices: [{ index: 0, delta: { content } }] });
    let acc = foldChatChunk(start, JSON.stringify({ choices: [{ delta: { role: 'assistant', content: '' } }] }));
    acc = foldChatChunk(acc, chunk('Hel'));
    acc = foldChatChunk(acc, chunk('lo'));
    acc = foldChatChunk(acc, JSON.stringify({ choices: [{ delta: {}, finish_reason: 'stop' }] }));
    acc = foldChatChunk(
      acc,
      JSON.stringify({ choices: [], usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 } }),
    );
    expect(acc).toEqual({
      text: 'Hello',
      done: false,
      usage: { promptTokens: 3, completionTokens: 2, totalTokens: 5 },
    });
    expect(foldChatChunk(acc, '[DONE]').done).toBe(true);
  });

  it("keeps the error event's message", () => {
    const acc = foldChatChunk(
      { text: 'par', done: false },
      JSON.stringify({ error: { message: 'upstream timed out', code: 'timeout' } }),
    );
    expect(acc.error).toBe('upstream timed out');
    expect(acc.text).toBe('par');
  });
});
