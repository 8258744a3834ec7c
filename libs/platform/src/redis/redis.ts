import { parseRedisUrl } from '@aigw/core';
import { Redis, type RedisOptions } from 'ioredis';

export const REDIS = Symbol('REDIS');

export interface RedisConnectionRole {
  /** BullMQ workers and subscribers must not fail commands while reconnecting: `maxRetriesPerRequest: null`. */
  blocking?: boolean;
  /**
   * Merge the commands issued in one tick into one write. Worth it on our own command connection, but
   * never on a connection BullMQ uses: ioredis builds every pipeline by copying each custom command of
   * the connection, and BullMQ defines dozens of Lua scripts on it, so each flush cost more than it saved
   * (measured: ~17% of a worker's CPU).
   */
  autoPipelining?: boolean;
}

/** Opens a connection for REDIS_URL (the db index is honoured). */
export function createRedis(url: string, name: string, opts: RedisConnectionRole = {}): Redis {
  const conn = parseRedisUrl(url);
  const options: RedisOptions = {
    ...conn,
    connectionName: name,
    enableAutoPipelining: opts.autoPipelining ?? false,
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
