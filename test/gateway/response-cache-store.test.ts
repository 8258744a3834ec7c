import { cacheModelTag } from '@aigw/core';
import { RedisErrors, RedisKeys, ResponseCache, ResponseCacheAdmin, type RedisOp } from '@aigw/platform';
import { deleteRedisKeysOf, freePort, PrivateRedis, uniqueId, waitFor } from '@aigw/testing';
import { Redis } from 'ioredis';
import { REDIS_URL } from '../e2e/harness';
import { quiet, result, TAG } from './cache-fixtures';

/** The response cache's Redis side against a real Redis (ADR 0005): TTL, entry size bound, bypass when unreachable. */
describe('ResponseCache (real Redis)', () => {
  const prefix = uniqueId('cache');
  const keys = new RedisKeys(prefix);
  const reported: RedisOp[] = [];
  const errors = new RedisErrors(quiet, { inc: ({ op }) => void reported.push(op) });
  let cache: ResponseCache;
  let redis: Redis;

  beforeAll(async () => {
    cache = new ResponseCache(REDIS_URL, keys, errors);
    redis = new Redis(REDIS_URL);
    // The cache's connection queues nothing before it is ready: until then it answers bypass.
    await waitFor(async () => (await cache.lookup(TAG, 'warm-up')).status === 'miss');
  });

  afterAll(async () => {
    await deleteRedisKeysOf(redis, prefix);
    await redis.quit();
    await cache.close();
  });

  it('stores an answer with its TTL and finds it', async () => {
    const key = uniqueId('k');
    expect(await cache.lookup(TAG, key)).toEqual({ status: 'miss' });
    expect(await cache.fill({ key, modelTag: TAG, ttlS: 60, maxEntryBytes: 10_000 }, result('hello'))).toBe(true);
    expect(await cache.lookup(TAG, key)).toEqual({ status: 'hit', result: result('hello') });
    const ttl = await redis.ttl(keys.key('cache', TAG, key));
    expect(ttl).toBeGreaterThan(55);
    expect(ttl).toBeLessThanOrEqual(60);
  });

  it('does not store an answer larger than maxEntryBytes', async () => {
    const key = uniqueId('k');
    const big = result('x'.repeat(2_000));
    expect(await cache.fill({ key, modelTag: TAG, ttlS: 60, maxEntryBytes: 1_024 }, big)).toBe(false);
    expect(await cache.lookup(TAG, key)).toEqual({ status: 'miss' });
    expect(await cache.fill({ key, modelTag: TAG, ttlS: 60, maxEntryBytes: 4_096 }, big)).toBe(true);
  });

  it('an entry it cannot read is a miss (no stale answer either), not a Redis failure, until a fill replaces it', async () => {
    const key = uniqueId('k');
    const entryKey = keys.key('cache', TAG, key);
    const { usage: _usage, ...withoutUsage } = result('old');
    reported.length = 0;
    for (const unreadable of [
      '{"cut short',
      'null',
      '7',
      '[1]',
      JSON.stringify(withoutUsage),
      JSON.stringify({ freshUntil: Date.now() + 60_000, result: withoutUsage }),
      JSON.stringify({ freshUntil: 'soon', result: result('x') }),
    ]) {
      await redis.set(entryKey, unreadable, 'EX', 60);
      expect(await cache.lookup(TAG, key)).toEqual({ status: 'miss' });
      expect(await cache.lookupStale(TAG, key)).toBeNull();
    }
    expect(reported).toEqual([]);
    expect(await cache.fill({ key, modelTag: TAG, ttlS: 60, maxEntryBytes: 10_000 }, result('new'))).toBe(true);
    expect(await cache.lookup(TAG, key)).toEqual({ status: 'hit', result: result('new') });
    const kept = { key, modelTag: TAG, ttlS: 60, staleTtlS: 60, maxEntryBytes: 10_000 };
    expect(await cache.fill(kept, result('kept'))).toBe(true);
    expect(await cache.lookup(TAG, key)).toEqual({ status: 'hit', result: result('kept') });
    expect(await cache.lookupStale(TAG, key)).toEqual(result('kept'));
  });

  it('answers bypass (and reports op cache) when its Redis is unreachable, without waiting for it', async () => {
    const port = await freePort();
    const down = new ResponseCache(`redis://127.0.0.1:${port}/0`, keys, errors);
    reported.length = 0;
    try {
      const started = Date.now();
      expect(await down.lookup(TAG, 'any')).toEqual({ status: 'bypass' });
      expect(await down.fill({ key: 'any', modelTag: TAG, ttlS: 60, maxEntryBytes: 10_000 }, result('x'))).toBe(false);
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(reported.filter((op) => op === 'cache')).toHaveLength(2);
    } finally {
      await down.close();
    }
  });
});

/** Invalidation and size of the cache (ADR 0005) against a real Redis: only the cache's own entries are touched. */
describe('ResponseCacheAdmin (real Redis)', () => {
  const prefix = uniqueId('cacheadm');
  const keys = new RedisKeys(prefix);
  const errors = new RedisErrors(quiet);
  const gpt = cacheModelTag('gpt');
  const claude = cacheModelTag('claude');
  let cache: ResponseCache;
  let admin: ResponseCacheAdmin;
  let redis: Redis;

  beforeAll(async () => {
    cache = new ResponseCache(REDIS_URL, keys, errors);
    admin = new ResponseCacheAdmin(REDIS_URL, keys, errors);
    redis = new Redis(REDIS_URL);
    await waitFor(async () => (await cache.lookup(gpt, 'warm-up')).status === 'miss');
  });

  afterAll(async () => {
    await deleteRedisKeysOf(redis, prefix);
    await redis.quit();
    await cache.close();
    await admin.close();
  });

  const sha = (n: number, lead = ''): string => (lead + n.toString(16).padStart(8, '0')).padEnd(64, '0');
  const put = (modelTag: string, key: string, text = 'answer'): Promise<boolean> =>
    cache.fill({ key, modelTag, ttlS: 60, maxEntryBytes: 10_000 }, result(text));
  const found = async (modelTag: string, key: string): Promise<boolean> =>
    (await cache.lookup(modelTag, key)).status === 'hit';

  it('deletes one model, a key prefix, then everything, leaving other keys of the deployment alone', async () => {
    // Keys of the same deployment that are no cache entries, one even under `<prefix>:cache:`.
    await redis.set(keys.key('cache-stats'), 'x');
    await redis.set(keys.key('cache', 'inflight', sha(1)), 'x');
    await redis.set(keys.key('quota', 'u1'), 'x');
    await Promise.all(Array.from({ length: 1_200 }, (_, i) => put(gpt, sha(i, 'aa'))));
    await put(claude, sha(1, 'ab'));
    await put(claude, sha(2, 'bc'));
    expect(await admin.size()).toEqual({ entries: 1_202, bytes: 1_202 * JSON.stringify(result('answer')).length });

    expect(await admin.invalidate({ modelTag: gpt })).toBe(1_200);
    expect(await found(gpt, sha(7, 'aa'))).toBe(false);
    expect(await found(claude, sha(1, 'ab'))).toBe(true);

    expect(await admin.invalidate({ keyPrefix: 'ab' })).toBe(1);
    expect(await found(claude, sha(1, 'ab'))).toBe(false);
    expect(await found(claude, sha(2, 'bc'))).toBe(true);

    expect(await admin.invalidate({ all: true })).toBe(1);
    expect(await admin.size()).toEqual({ entries: 0, bytes: 0 });
    expect(
      await redis.exists(keys.key('cache-stats'), keys.key('cache', 'inflight', sha(1)), keys.key('quota', 'u1')),
    ).toBe(3);
  });

  it("a model's clear with answeredBy also deletes the aliases' entries that model answered, and only those", async () => {
    const answer = (model: string): ReturnType<typeof result> => ({ ...result('a'), model });
    const fill = (modelTag: string, key: string, model: string): Promise<boolean> =>
      cache.fill({ key, modelTag, ttlS: 60, maxEntryBytes: 10_000 }, answer(model));
    const auto = cacheModelTag('auto');
    const cheapest = cacheModelTag('cheapest');
    // More alias entries than one read batch, in both layouts (bare, and kept for stale answers).
    await Promise.all(Array.from({ length: 120 }, (_, i) => fill(auto, sha(i, 'c1'), i % 2 === 0 ? 'gpt' : 'claude')));
    await cache.fill(
      { key: sha(1, 'c2'), modelTag: cheapest, ttlS: 60, staleTtlS: 60, maxEntryBytes: 10_000 },
      answer('gpt'),
    );
    await fill(gpt, sha(1, 'c3'), 'gpt');
    await fill(claude, sha(1, 'c4'), 'claude');

    expect(await admin.invalidate({ modelTag: gpt, answeredBy: 'gpt' })).toBe(60 + 1 + 1);
    expect(await found(auto, sha(0, 'c1'))).toBe(false);
    expect(await found(auto, sha(1, 'c1'))).toBe(true);
    expect(await found(cheapest, sha(1, 'c2'))).toBe(false);
    expect(await found(gpt, sha(1, 'c3'))).toBe(false);
    expect(await found(claude, sha(1, 'c4'))).toBe(true);
    // Without answeredBy: the requested model's own entries only.
    await fill(auto, sha(2, 'c1'), 'claude');
    expect(await admin.invalidate({ modelTag: claude })).toBe(1);
    expect(await found(auto, sha(2, 'c1'))).toBe(true);
    await admin.invalidate({ all: true });
  });

  it("counts only its own deployment's entries in a cache Redis shared with another, for a user without INFO", async () => {
    const own = await new PrivateRedis().start();
    const setup = new Redis(own.url);
    await setup.acl('SETUSER', 'cacheuser', 'on', '>cache-secret', '~*', '&*', '+@all', '-info');
    await setup.quit();
    const url = own.url.replace('redis://', 'redis://cacheuser:cache-secret@');
    const otherKeys = new RedisKeys(uniqueId('other'));
    const ownCache = new ResponseCache(url, keys, errors);
    const otherCache = new ResponseCache(url, otherKeys, errors);
    const ownAdmin = new ResponseCacheAdmin(url, keys, errors);
    try {
      await waitFor(async () => (await ownCache.lookup(gpt, 'warm-up')).status === 'miss');
      await waitFor(async () => (await otherCache.lookup(gpt, 'warm-up')).status === 'miss');
      await ownCache.fill({ key: sha(1), modelTag: gpt, ttlS: 60, maxEntryBytes: 10_000 }, result('x'));
      await ownCache.fill({ key: sha(2), modelTag: gpt, ttlS: 60, maxEntryBytes: 10_000 }, result('y'));
      for (const i of [1, 2, 3]) {
        await otherCache.fill({ key: sha(i), modelTag: gpt, ttlS: 60, maxEntryBytes: 10_000 }, result('z'));
      }
      expect(await ownAdmin.size()).toEqual({ entries: 2, bytes: 2 * JSON.stringify(result('x')).length });
    } finally {
      await ownCache.close();
      await otherCache.close();
      await ownAdmin.close();
      await own.stop();
    }
  });

  it('throws, without hanging, when its Redis is unreachable', async () => {
    const down = new ResponseCacheAdmin(`redis://127.0.0.1:${await freePort()}/0`, keys, errors);
    try {
      await expect(down.invalidate({ all: true })).rejects.toThrow();
      await expect(down.size()).rejects.toThrow();
    } finally {
      await down.close();
    }
  });
});
