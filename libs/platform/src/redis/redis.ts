import { parseRedisUrl } from '@aigw/core';
import { Redis, type RedisOptions } from 'ioredis';

export const REDIS = Symbol('REDIS');

/**
 * Opens a connection for REDIS_URL. `blocking` connections (BullMQ workers, subscribers) must not
 * fail commands while reconnecting, so they get `maxRetriesPerRequest: null`.
 */
export function createRedis(url: string, name: string, opts: { blocking?: boolean } = {}): Redis {
  const conn = parseRedisUrl(url);
  const options: RedisOptions = {
    ...conn,
    connectionName: name,
    enableAutoPipelining: true,
    maxRetriesPerRequest: opts.blocking ? null : 2,
    // Reconnect quickly, then back off to 2 s; never give up (Redis restarts must be survivable).
    retryStrategy: (times) => Math.min(50 * 2 ** times, 2000),
    lazyConnect: false,
  };
  return new Redis(options);
}

/** Key and channel names under the deployment's namespace. */
export class RedisKeys {
  constructor(readonly prefix: string) {}

  /** BullMQ prefix: a hash tag, so every key of every queue lands in one Redis Cluster slot. */
  get bullPrefix(): string {
    return `{${this.prefix}}`;
  }

  key(...parts: string[]): string {
    return `${this.prefix}:${parts.join(':')}`;
  }

  replyChannel(instanceId: string): string {
    return `${this.prefix}:reply:${instanceId}`;
  }
}
