import { parseSse } from './sse';

describe('parseSse', () => {
  it('parses named and unnamed events', () => {
    expect(parseSse('event: a\ndata: 1\n\ndata: 2\n\n')).toEqual([
      { event: 'a', data: '1' },
      { event: null, data: '2' },
    ]);
  });

  it('handles CRLF, comments, multi-line data and the optional space', () => {
    expect(parseSse(': keep-alive\r\ndata:x\r\ndata: y\r\n\r\n')).toEqual([{ event: null, data: 'x\ny' }]);
  });

  it('keeps a trailing event that was cut before its blank line', () => {
    expect(parseSse('data: 1\n\ndata: {"par')).toEqual([
      { event: null, data: '1' },
      { event: null, data: '{"par' },
    ]);
  });

  it('returns nothing for an empty body', () => {
    expect(parseSse('')).toEqual([]);
  });
});
