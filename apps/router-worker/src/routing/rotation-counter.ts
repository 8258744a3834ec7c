import { Inject, Injectable, Logger } from '@nestjs/common';
import { REDIS, RedisKeys } from '@aigw/platform';
import { RoundRobinCounter, routingKeyPrefix } from '@aigw/routing';
import type { Redis } from 'ioredis';
import { WarnThrottle } from './warn-throttle';

/**
 * The fleet-wide round-robin counter. When Redis fails, a random start still spreads requests evenly on
 * average (just not in strict turns).
 */
@Injectable()
export class RotationCounter {
  private readonly logger = new Logger(RotationCounter.name);
  private readonly warnings = new WarnThrottle(this.logger);
  private readonly counter: RoundRobinCounter;

  constructor(@Inject(REDIS) redis: Redis, keys: RedisKeys) {
    this.counter = new RoundRobinCounter(redis, routingKeyPrefix(keys.prefix));
  }

  async next(key: string): Promise<number> {
    try {
      return await this.counter.next(key);
    } catch (err) {
      this.warnings.warn('round-robin counter not incremented, starting at random', err);
      return Math.floor(Math.random() * 1_000_000);
    }
  }
}
