import { createHash, randomUUID } from 'node:crypto';
import type Redis from 'ioredis';
import { RedisScript } from '@aigw/routing';
import { connect } from './redis';

describe('RedisScript', () => {
  let redis: Redis;

  beforeAll(() => {
    redis = connect();
  });

  afterAll(async () => {
    await redis.quit();
  });

  it('loads a script Redis has never seen (NOSCRIPT -> EVAL), then runs it by SHA', async () => {
    // A unique body, so this script cannot already be in the (shared) script cache.
    const lua = `-- ${randomUUID()}\nreturn {KEYS[1], ARGV[1], ARGV[2]}`;
    const sha = createHash('sha1').update(lua).digest('hex');
    expect(await redis.script('EXISTS', sha)).toEqual([0]);
    const script = new RedisScript(lua);
    expect(await script.run(redis, ['k'], ['a', 7])).toEqual(['k', 'a', '7']);
    expect(await redis.script('EXISTS', sha)).toEqual([1]);
    expect(await script.run(redis, ['k2'], ['b', 8])).toEqual(['k2', 'b', '8']);
  });

  it('passes script errors through with their message', async () => {
    const script = new RedisScript(`-- ${randomUUID()}\nreturn redis.error_reply('boom')`);
    await expect(script.run(redis, [], [])).rejects.toThrow('boom');
  });
});
