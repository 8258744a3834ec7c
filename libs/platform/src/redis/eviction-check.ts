import type { Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { isNoPermission } from './redis';

/**
 * Says once, at boot, when the queue's Redis may evict keys: BullMQ needs `maxmemory-policy noeviction` (an evicted
 * job, lock or result is a lost request), and a managed Redis often comes with `volatile-lru` or `allkeys-lru`.
 * BullMQ's own warning is a bare console line, outside the log format, that names no remedy. Best effort: a Redis
 * that does not answer is an outage the connection reports; an ACL user that may not run INFO is said once.
 */
export async function checkEvictionPolicy(
  client: Pick<Redis, 'info'>,
  logger: Pick<Logger, 'warn'>,
  variable = 'REDIS_URL',
): Promise<void> {
  let memory: string;
  try {
    memory = await client.info('memory');
  } catch (err) {
    if (isNoPermission(err)) {
      logger.warn(
        `${variable}'s user may not run INFO: Redis's maxmemory-policy cannot be checked (it must be noeviction, ` +
          'see README "Running Redis")',
      );
    }
    return;
  }
  const policy = /^maxmemory_policy:(\S+)/m.exec(memory)?.[1];
  if (policy !== undefined && policy !== 'noeviction') {
    logger.warn(
      `the Redis of ${variable} runs with maxmemory-policy ${policy}: under memory pressure it evicts queued jobs, ` +
        'their locks and results (lost requests); run it with noeviction (see README "Running Redis")',
    );
  }
}
