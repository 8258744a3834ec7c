import { ErrorCode, GatewayError } from '@aigw/core';
import { cacheDirectiveOf, checkCacheHeader } from './cache-directive';

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

  it('checkCacheHeader takes no-cache and no-store only, in any case; anything else is a 400 naming the header', () => {
    for (const ok of [undefined, '', 'no-cache', 'No-Store', ' no-cache , no-store ']) {
      expect(() => checkCacheHeader(ok)).not.toThrow();
    }
    for (const bad of ['bypass', 'no_store', 'nostore', 'no-cache, off']) {
      let thrown: unknown;
      try {
        checkCacheHeader(bad);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(GatewayError);
      expect(thrown).toMatchObject({ code: ErrorCode.InvalidRequest, param: 'x-gateway-cache' });
    }
  });
});
