import type { RedisClient } from './redis-script';

/** A clock sample whose round trip took longer than this says too little about when the server read its clock. */
export const OFFSET_SAMPLE_MAX_RTT_MS = 250;

/**
 * The Redis server clock minus this process's (0 before any sample). Circuit times (opened at, a cooldown's end) are
 * written by scripts on the Redis clock; a process comparing them with its own clock, minutes off, would see circuits
 * open or closed that long wrongly. A worker learns the offset from its circuit scripts' replies at no extra command
 * (CircuitBreakerStore); a process that runs no scripts (the api-gateway) asks `TIME` now and then (`sync`), off the
 * request path. One instance may be shared by every store of a process.
 */
export class RedisClockOffset {
  private offsetMs = 0;
  private syncedAt = Number.NEGATIVE_INFINITY;

  /** Now in epoch ms on the Redis clock, as this process's clock corrected by the latest sample shows it. */
  now(): number {
    return Date.now() + this.offsetMs;
  }

  /** Takes a sample: the Redis clock read between `sentMs` and `receivedMs` (this process's clock) said `redisNowMs`. */
  sample(sentMs: number, redisNowMs: number, receivedMs: number): void {
    if (receivedMs - sentMs <= OFFSET_SAMPLE_MAX_RTT_MS && Number.isFinite(redisNowMs)) {
      this.offsetMs = redisNowMs - (sentMs + receivedMs) / 2;
    }
  }

  /**
   * Samples the offset with one `TIME` command, unless the last sync was less than `minIntervalMs` ago. Rejects with
   * Redis's error (the offset stays as it was).
   */
  async sync(redis: Pick<RedisClient, 'time'>, minIntervalMs = 0): Promise<void> {
    const sent = Date.now();
    if (sent - this.syncedAt < minIntervalMs) {
      return;
    }
    this.syncedAt = sent;
    const [seconds, micros] = await redis.time();
    this.sample(sent, Number(seconds) * 1000 + Number(micros) / 1000, Date.now());
  }
}
