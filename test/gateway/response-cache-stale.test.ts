import { RedisErrors, RedisKeys, ResponseCache } from '@aigw/platform';
import { deleteRedisKeysOf, uniqueId, waitFor } from '@aigw/testing';
import { Redis } from 'ioredis';
import { REDIS_URL } from '../e2e/harness';
import { quiet, result, TAG } from './cache-fixtures';

/** Entries kept past their freshness for stale answers (CacheFill.staleTtlS) against a real Redis. */
describe('ResponseCache stale entries (real Redis)', () => {
  const prefix = uniqueId('stale');
  const keys = new RedisKeys(prefix);
  let cache: ResponseCache;
  let redis: Redis;

  beforeAll(async () => {
    cache = new ResponseCache(REDIS_URL, keys, new RedisErrors(quiet));
    redis = new Redis(REDIS_URL);
    await waitFor(async () => (await cache.lookup(TAG, 'warm-up')).status === 'miss');
  });

  afterAll(async () => {
    await deleteRedisKeysOf(redis, prefix);
    await redis.quit();
    await cache.close();
  });

  it('keeps an entry ttl + staleTtl; a hit while fresh, then a miss that the stale lookup still finds', async () => {
    const key = uniqueId('k');
    expect(await cache.fill({ key, modelTag: TAG, ttlS: 1, staleTtlS: 60, maxEntryBytes: 10_000 }, result('old'))).toBe(
      true,
    );
    const ttl = await redis.ttl(keys.key('cache', TAG, key));
    expect(ttl).toBeGreaterThan(55);
    expect(ttl).toBeLessThanOrEqual(61);
    expect(await cache.lookup(TAG, key)).toEqual({ status: 'hit', result: result('old') });
    await new Promise((r) => setTimeout(r, 1_100));
    expect(await cache.lookup(TAG, key)).toEqual({ status: 'miss' });
    expect(await cache.lookupStale(TAG, key)).toEqual(result('old'));
  });

  it('without stale time an entry is the bare answer, found by both lookups; nothing kept: null', async () => {
    const key = uniqueId('k');
    expect(await cache.fill({ key, modelTag: TAG, ttlS: 60, maxEntryBytes: 10_000 }, result('bare'))).toBe(true);
    expect(JSON.parse((await redis.get(keys.key('cache', TAG, key))) ?? 'null')).toEqual(result('bare'));
    expect(await cache.lookupStale(TAG, key)).toEqual(result('bare'));
    expect(await cache.lookupStale(TAG, uniqueId('absent'))).toBeNull();
  });
});
