import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';

/** Any ioredis client: standalone, Sentinel-backed or Cluster. */
export type RedisClient = Redis | Cluster;

/**
 * A Lua script run by SHA (EVALSHA), loaded on demand: after a Redis restart or failover the
 * script cache is empty and the first call falls back to EVAL, which caches it again.
 */
export class RedisScript {
  private readonly sha: string;

  constructor(private readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  async run(redis: RedisClient, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (err instanceof Error && err.message.startsWith('NOSCRIPT')) {
        return redis.eval(this.lua, keys.length, ...keys, ...args);
      }
      throw err;
    }
  }
}

/** Epoch ms as the scripts expect it; '' makes a script use the Redis server clock. */
export function clockArg(clock: (() => number) | undefined): string {
  return clock === undefined ? '' : String(Math.floor(clock()));
}
