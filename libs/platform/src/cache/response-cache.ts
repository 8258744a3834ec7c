import type { CacheFill, GenerationResult } from '@aigw/core';
import type { Redis } from 'ioredis';
import { closeRedis, createRedis, type RedisKeys } from '../redis/redis';
import type { RedisErrors } from '../redis/redis-errors';

/** A cache command waits no longer than this: past it, the request goes on without the cache (`bypass`). */
const CACHE_COMMAND_TIMEOUT_MS = 250;

export type CacheLookup = { status: 'hit'; result: GenerationResult } | { status: 'miss' } | { status: 'bypass' };

/**
 * The response cache's Redis (ADR 0005): whole answers under `<prefix>:cache:<sha256>`, each with its TTL. Its own
 * connection (CACHE_REDIS_URL, else REDIS_URL) that never queues commands while Redis is away, so an outage costs
 * a request nothing but the cache. Errors are reported as op `cache` and never thrown.
 */
export class ResponseCache {
  private readonly redis: Redis;

  constructor(
    url: string,
    private readonly keys: RedisKeys,
    private readonly errors: RedisErrors,
  ) {
    this.redis = createRedis(url, `${keys.prefix}:cache`, errors, { failFastMs: CACHE_COMMAND_TIMEOUT_MS });
  }

  async lookup(key: string): Promise<CacheLookup> {
    try {
      const raw = await this.redis.get(this.entryKey(key));
      return raw === null ? { status: 'miss' } : { status: 'hit', result: JSON.parse(raw) as GenerationResult };
    } catch (err) {
      this.errors.report('cache', err);
      return { status: 'bypass' };
    }
  }

  /** Stores an answer unless it is larger than the fill allows; resolves whether it was stored. */
  async fill(fill: CacheFill, result: GenerationResult): Promise<boolean> {
    const raw = JSON.stringify(result);
    if (Buffer.byteLength(raw) > fill.maxEntryBytes) {
      return false;
    }
    try {
      await this.redis.set(this.entryKey(fill.key), raw, 'EX', fill.ttlS);
      return true;
    } catch (err) {
      this.errors.report('cache', err);
      return false;
    }
  }

  close(): Promise<void> {
    return closeRedis(this.redis);
  }

  /** Nest's hook where the cache is a provider (the worker). */
  onApplicationShutdown(): Promise<void> {
    return this.close();
  }

  private entryKey(key: string): string {
    return this.keys.key('cache', key);
  }
}
