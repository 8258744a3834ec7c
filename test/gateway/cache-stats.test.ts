import { RedisErrors, RedisFinalWrites, RedisKeys } from '@aigw/platform';
import { deleteRedisKeysOf, uniqueId } from '@aigw/testing';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { CacheStats } from '../../apps/api-gateway/src/cache/cache-stats';
import { REDIS_URL } from '../e2e/harness';
import { quiet } from './cache-fixtures';

/**
 * The cache statistics' shared totals (ADR 0005) against a real Redis: `GET /admin/cache/stats` adds this replica's
 * counts before it reads them, so an admin sees every request this replica answered before the call. One counted
 * while the once-a-second flush was on its way to Redis was left out: the call joined that flush, which had taken the
 * counts before it.
 */
describe('CacheStats (real Redis)', () => {
  const prefix = uniqueId('cachestats');
  const keys = new RedisKeys(prefix);
  let redis: Redis;
  let stats: CacheStats;
  const finalWrites = new RedisFinalWrites();

  beforeAll(() => {
    redis = new Redis(REDIS_URL);
    stats = new CacheStats(redis, keys, new RedisErrors(quiet), new Registry(), finalWrites);
  });

  afterAll(async () => {
    await finalWrites.run();
    await deleteRedisKeysOf(redis, prefix);
    await redis.quit();
  });

  it('totals include a count made while a flush was in flight', async () => {
    stats.count('miss');
    // The periodic flush starts: it has taken the miss.
    const flushing = stats.flush();
    stats.count('hit');
    expect(await stats.totals()).toEqual({ hit: 1, miss: 1, bypass: 0, stale: 0 });
    await flushing;
  });
});
