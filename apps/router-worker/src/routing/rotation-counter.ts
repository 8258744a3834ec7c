import { Inject, Injectable } from '@nestjs/common';
import { REDIS, RedisErrors, RedisKeys } from '@aigw/platform';
import { RoundRobinCounter, routingKeyPrefix } from '@aigw/routing';
import type { Redis } from 'ioredis';

/**
 * The fleet-wide round-robin counter. When Redis fails, a random start still spreads requests evenly on
 * average (just not in strict turns).
 */
@Injectable()
export class RotationCounter {
  private readonly counter: RoundRobinCounter;

  constructor(
    @Inject(REDIS) redis: Redis,
    keys: RedisKeys,
    private readonly errors: RedisErrors,
  ) {
    this.counter = new RoundRobinCounter(redis, routingKeyPrefix(keys.prefix));
  }

  async next(key: string): Promise<number> {
    try {
      return await this.counter.next(key);
    } catch (err) {
      this.errors.report('rotation', err);
      return Math.floor(Math.random() * 1_000_000);
    }
  }
}
