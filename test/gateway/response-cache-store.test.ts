import type { GenerationResult } from '@aigw/core';
import { RedisErrors, RedisKeys, ResponseCache, type RedisOp } from '@aigw/platform';
import { deleteRedisKeysOf, freePort, uniqueId, waitFor } from '@aigw/testing';
import { Redis } from 'ioredis';
import { REDIS_URL } from '../e2e/harness';

const quiet = { warn: (): void => undefined, log: (): void => undefined };

function result(text: string): GenerationResult {
  return {
    requestId: 'r1',
    id: 'c1',
    created: 1,
    text,
    finishReason: 'stop',
    provider: 'p',
    model: 'm',
    route: 'direct',
    usage: { promptTokens: 1, completionTokens: 2, totalTokens: 3, cachedPromptTokens: 0 },
    costUsd: 0.001,
    latencyMs: 5,
    providerLatencyMs: 4,
    attempts: [],
  };
}

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
    await waitFor(async () => (await cache.lookup('warm-up')).status === 'miss');
  });

  afterAll(async () => {
    await deleteRedisKeysOf(redis, prefix);
    await redis.quit();
    await cache.close();
  });

  it('stores an answer with its TTL and finds it', async () => {
    const key = uniqueId('k');
    expect(await cache.lookup(key)).toEqual({ status: 'miss' });
    expect(await cache.fill({ key, ttlS: 60, maxEntryBytes: 10_000 }, result('hello'))).toBe(true);
    expect(await cache.lookup(key)).toEqual({ status: 'hit', result: result('hello') });
    const ttl = await redis.ttl(keys.key('cache', key));
    expect(ttl).toBeGreaterThan(55);
    expect(ttl).toBeLessThanOrEqual(60);
  });

  it('does not store an answer larger than maxEntryBytes', async () => {
    const key = uniqueId('k');
    const big = result('x'.repeat(2_000));
    expect(await cache.fill({ key, ttlS: 60, maxEntryBytes: 1_024 }, big)).toBe(false);
    expect(await cache.lookup(key)).toEqual({ status: 'miss' });
    expect(await cache.fill({ key, ttlS: 60, maxEntryBytes: 4_096 }, big)).toBe(true);
  });

  it('answers bypass (and reports op cache) when its Redis is unreachable, without waiting for it', async () => {
    const port = await freePort();
    const down = new ResponseCache(`redis://127.0.0.1:${port}/0`, keys, errors);
    reported.length = 0;
    try {
      const started = Date.now();
      expect(await down.lookup('any')).toEqual({ status: 'bypass' });
      expect(await down.fill({ key: 'any', ttlS: 60, maxEntryBytes: 10_000 }, result('x'))).toBe(false);
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(reported.filter((op) => op === 'cache')).toHaveLength(2);
    } finally {
      await down.close();
    }
  });
});
