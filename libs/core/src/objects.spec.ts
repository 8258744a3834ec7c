import { merged } from './objects';

describe('merged', () => {
  it('is { ...base, ...extra }: a new object, extra winning, in the same key order', () => {
    const base = { a: 1, b: 'x', c: null as string | null };
    const out = merged(base, { c: 'y', d: true });
    expect(out).toEqual({ ...base, c: 'y', d: true });
    expect(Object.keys(out)).toEqual(['a', 'b', 'c', 'd']);
    expect(out).not.toBe(base);
    expect(base).toEqual({ a: 1, b: 'x', c: null });
  });

  it('copies undefined values like a spread does (they drop out of JSON)', () => {
    const out = merged({ a: 1, b: 2 }, { b: undefined });
    expect(out).toEqual({ a: 1, b: undefined });
    expect(JSON.stringify(out)).toBe('{"a":1}');
  });
});
