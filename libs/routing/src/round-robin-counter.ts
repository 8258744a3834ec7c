import { DAY_MS } from '@aigw/core';
import type { RedisClient } from './redis-script';

const KEY_TTL_MS = DAY_MS;

/**
 * A counter shared by every worker, so round-robin spreads requests evenly across the fleet
 * rather than per process. Use one key per candidate set (e.g. the requested model or alias).
 */
export class RoundRobinCounter {
  constructor(
    private readonly redis: RedisClient,
    private readonly keyPrefix: string,
  ) {}

  /** The next value (1, 2, 3...) for this key; pass it to `roundRobin`. */
  async next(key: string): Promise<number> {
    const k = `${this.keyPrefix}rr:${key}`;
    // One round trip: both commands leave in one write on a connection corked per turn. No MULTI: the expiry only
    // garbage-collects counters of models nobody asks for any more, and a transaction would cost two more commands
    // and an ioredis pipeline object per request.
    const [value] = await Promise.all([this.redis.incr(k), this.redis.pexpire(k, KEY_TTL_MS)]).catch((err: unknown) => {
      throw new Error(`Incrementing the round-robin counter ${key} failed`, { cause: err });
    });
    return value;
  }
}
