import { createHash } from 'node:crypto';
import { Command, type Cluster, type Redis } from 'ioredis';

/** Any ioredis client: standalone, Sentinel-backed or Cluster. */
export type RedisClient = Redis | Cluster;

/**
 * Where a command carries the time (epoch ms, this process' clock) after which it must not be written to Redis, first
 * or again (`RedisScript.run`'s `sendBy`). Read by the platform's patch of ioredis' `sendCommand`
 * (`refuseLateSends`), which rejects such a command instead of sending it; a registered symbol, so that the two
 * libraries share it without importing each other.
 */
export const SEND_BY = Symbol.for('aigw.redis.sendBy');

/**
 * A Lua script run by SHA (EVALSHA), loaded on demand: after a Redis restart or failover the
 * script cache is empty and the first call falls back to EVAL, which caches it again.
 */
export class RedisScript {
  private readonly sha: string;

  constructor(private readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  /**
   * `sendBy`: not written to Redis after that time (epoch ms). ioredis holds a command whose connection dropped
   * unanswered until a reconnection is ready, however long that takes, and then sends it again: a script that marks
   * its run for a while (a refund, an admission) must not run again once its marker may have expired. Rejected
   * instead (with the platform's `refuseLateSends` installed, as every app has it).
   */
  async run(
    redis: RedisClient,
    keys: readonly string[],
    args: readonly (string | number)[],
    sendBy?: number,
  ): Promise<unknown> {
    try {
      return await this.send(redis, 'evalsha', this.sha, keys, args, sendBy);
    } catch (err) {
      if (err instanceof Error && err.message.startsWith('NOSCRIPT')) {
        return this.send(redis, 'eval', this.lua, keys, args, sendBy);
      }
      throw err;
    }
  }

  private send(
    redis: RedisClient,
    name: 'evalsha' | 'eval',
    script: string,
    keys: readonly string[],
    args: readonly (string | number)[],
    sendBy: number | undefined,
  ): Promise<unknown> {
    if (sendBy === undefined) {
      return name === 'evalsha'
        ? redis.evalsha(script, keys.length, ...keys, ...args)
        : redis.eval(script, keys.length, ...keys, ...args);
    }
    // As ioredis builds `evalsha`/`eval` (string replies), with the deadline on it.
    const command = new Command(name, [script, keys.length, ...keys, ...args], {
      replyEncoding: 'utf8',
      keyPrefix: redis.options.keyPrefix,
    });
    (command as unknown as Record<symbol, number>)[SEND_BY] = sendBy;
    return redis.sendCommand(command) as Promise<unknown>;
  }
}

/** Epoch ms as the scripts expect it; '' makes a script use the Redis server clock. */
export function clockArg(clock: (() => number) | undefined): string {
  return clock === undefined ? '' : String(Math.floor(clock()));
}
