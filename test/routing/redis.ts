import { randomUUID } from 'node:crypto';
import { parseRedisUrl } from '@aigw/core';
import Redis from 'ioredis';

import { TEST_REDIS_URL as REDIS_URL } from '@aigw/testing';

/** A separate connection, as a separate worker process would have. */
export function connect(): Redis {
  return new Redis({ ...parseRedisUrl(REDIS_URL), maxRetriesPerRequest: 1 });
}

/** A key prefix no other test run shares. */
export function uniquePrefix(): string {
  return `t-${randomUUID()}:`;
}

/** Deletes every key under the prefix (SCAN, never FLUSH: the Redis is shared). */
export async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    if (keys.length > 0) {
      await redis.del(...keys);
    }
  } while (cursor !== '0');
}

export { sleep } from '@aigw/testing';
