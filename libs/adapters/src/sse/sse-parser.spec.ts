import { parseSse, type SseEvent, SseParser } from './sse-parser';

function parseWhole(chunks: (Uint8Array | string)[]): SseEvent[] {
  const parser = new SseParser();
  const out: SseEvent[] = [];
  for (const chunk of chunks) {
    parser.feed(chunk, out);
  }
  parser.end(out);
  return out;
}

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

// Every line-break style, a comment, an event name, multi-line data, a field without a colon, an empty data line,
// and text whose UTF-8 encoding is 2, 3 and 4 bytes per character.
const STREAM =
  '\uFEFF: keep-alive comment\r\n' +
  'event: message_start\n' +
  'data: {"a":"é中😀"}\n\n' +
  'data: line one\r\n' +
  'data:line two\r' +
  'data\n' +
  'id: 7\r\n' +
  '\r\n' +
  'event: ping\r' +
  'data:  two spaces kept\r' +
  '\r' +
  'event: no-data\n\n' +
  'data: [DONE]\n\n';

const EXPECTED: SseEvent[] = [
  { event: 'message_start', data: '{"a":"é中😀"}' },
  { event: 'message', data: 'line one\nline two\n', id: '7' },
  { event: 'ping', data: ' two spaces kept', id: '7' },
  { event: 'message', data: '[DONE]', id: '7' },
];

describe('SseParser', () => {
  it("reads llama.cpp's `error:` line (not a field of the format) as an error event, not as nothing", () => {
    const error = '{"code":500,"message":"context shift is disabled","type":"server_error"}';
    expect(parseWhole([`data: {"n":1}\n\nerror: ${error}\n\ndata: [DONE]\n\n`])).toEqual([
      { event: 'message', data: '{"n":1}' },
      { event: 'error', data: error },
      { event: 'message', data: '[DONE]' },
    ]);
  });

  it('parses a whole stream in one chunk', () => {
    expect(parseWhole([bytes(STREAM)])).toEqual(EXPECTED);
  });

  it('gives the same events for every split into two byte chunks', () => {
    const all = bytes(STREAM);
    for (let i = 0; i <= all.length; i++) {
      expect({ i, events: parseWhole([all.subarray(0, i), all.subarray(i)]) }).toEqual({ i, events: EXPECTED });
    }
  });

  it('gives the same events for every split into three byte chunks', () => {
    const all = bytes(STREAM);
    for (let i = 0; i <= all.length; i++) {
      for (let j = i; j <= all.length; j++) {
        const events = parseWhole([all.subarray(0, i), all.subarray(i, j), all.subarray(j)]);
        if (JSON.stringify(events) !== JSON.stringify(EXPECTED)) {
          throw new Error(`split at ${i}/${j} gave ${JSON.stringify(events)}`);
        }
      }
    }
  });

  it('gives the same events when fed one byte at a time and one character at a time', () => {
    const all = bytes(STREAM);
    expect(parseWhole(Array.from(all, (b) => Uint8Array.of(b)))).toEqual(EXPECTED);
    expect(parseWhole(STREAM.split(''))).toEqual(EXPECTED);
  });

  it('drops an unterminated last line but dispatches a complete event lacking the final blank line', () => {
    expect(parseWhole(['data: a\n\ndata: b\n'])).toEqual([
      { event: 'message', data: 'a' },
      { event: 'message', data: 'b' },
    ]);
    expect(parseWhole(['data: a\n\ndata: {"trunc'])).toEqual([{ event: 'message', data: 'a' }]);
  });

  it('reuses nothing between events: the event name resets after each dispatch', () => {
    expect(parseWhole(['event: x\ndata: 1\n\ndata: 2\n\n'])).toEqual([
      { event: 'x', data: '1' },
      { event: 'message', data: '2' },
    ]);
  });

  it('ignores an id containing NUL and unknown fields', () => {
    expect(parseWhole(['id: a\0b\nretry: 10\nfoo: bar\ndata: x\n\n'])).toEqual([{ event: 'message', data: 'x' }]);
  });
});

describe('parseSse', () => {
  it('yields events from an async byte stream', async () => {
    async function* source(): AsyncGenerator<Uint8Array> {
      const all = bytes(STREAM);
      for (let i = 0; i < all.length; i += 5) {
        yield all.subarray(i, i + 5);
        await Promise.resolve();
      }
    }
    const got: SseEvent[] = [];
    for await (const event of parseSse(source())) {
      got.push(event);
    }
    expect(got).toEqual(EXPECTED);
  });
});
