import { NdjsonParser } from './ndjson-parser';
import type { SseEvent } from './sse-parser';

function feedAll(parser: NdjsonParser, chunks: (Uint8Array | string)[]): string[] {
  const out: SseEvent[] = [];
  for (const c of chunks) {
    parser.feed(c, out);
  }
  parser.end(out);
  return out.map((e) => e.data);
}

describe('NdjsonParser', () => {
  it('joins a line split anywhere: inside a multi-byte character, between \\r and \\n, over many chunks', () => {
    const bytes = Buffer.from('{"a":"é✓"}\r\n\n{"b":1}\n{"c":"👍"}', 'utf8');
    // Every one-byte split at once: each chunk a single byte.
    const chunks = [...bytes].map((b) => Uint8Array.of(b));
    expect(feedAll(new NdjsonParser(), chunks)).toEqual(['{"a":"é✓"}', '{"b":1}', '{"c":"👍"}']);
  });

  it('holds only the unfinished line, and says how long it is', () => {
    const parser = new NdjsonParser();
    const out: SseEvent[] = [];
    parser.feed('{"a":1}\n{"b":', out);
    expect(parser.pendingLength).toBe('{"b":'.length);
    for (let i = 0; i < 100; i++) {
      parser.feed('22', out);
    }
    expect(parser.pendingLength).toBe('{"b":'.length + 200);
    parser.feed('}\n', out);
    expect(parser.pendingLength).toBe(0);
    expect(out.map((e) => e.data)).toEqual(['{"a":1}', `{"b":${'22'.repeat(100)}}`]);
  });
});
