/** Backoff between attempts to hand something to Redis while it is away: short, so the hand-off follows its return. */
export const REDIS_RETRY_FIRST_MS = 100;
export const REDIS_RETRY_MAX_MS = 1000;

export function redisRetryDelayMs(failures: number): number {
  return Math.min(REDIS_RETRY_MAX_MS, REDIS_RETRY_FIRST_MS * 2 ** Math.max(0, failures - 1));
}

/** Thrown when a shutting-down worker gives up on handing something to Redis. */
export class RedisHandOffAbandoned extends Error {
  constructor(what: string, options?: ErrorOptions) {
    super(`${what} not stored: Redis unavailable until the shutdown grace ran out`, options);
    this.name = 'RedisHandOffAbandoned';
  }
}
