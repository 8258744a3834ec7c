import { cacheDirectiveOf } from './cache-directive';

describe('cacheDirectiveOf', () => {
  it('uses the cache unless told otherwise', () => {
    expect(cacheDirectiveOf(undefined, undefined)).toBe('use');
    expect(cacheDirectiveOf(undefined, undefined, true)).toBe('use');
    expect(cacheDirectiveOf(undefined, 'max-age=0', true)).toBe('use');
  });

  it('reads x-gateway-cache and Cache-Control, the strictest winning', () => {
    expect(cacheDirectiveOf('no-cache', undefined)).toBe('no-cache');
    expect(cacheDirectiveOf(undefined, 'private, No-Cache')).toBe('no-cache');
    expect(cacheDirectiveOf('no-store', undefined)).toBe('no-store');
    expect(cacheDirectiveOf('no-cache', 'no-store')).toBe('no-store');
  });

  it('takes useCache: false as no-store', () => {
    expect(cacheDirectiveOf(undefined, undefined, false)).toBe('no-store');
  });
});
