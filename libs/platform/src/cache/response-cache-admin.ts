import { CACHE_MODEL_TAG_LENGTH, cacheModelTag, MODEL_ALIASES } from '@aigw/core';
import type { Redis } from 'ioredis';
import { closeRedis, createRedis, type RedisKeys } from '../redis/redis';
import type { RedisErrors } from '../redis/redis-errors';
import { cacheKeyspace, readCacheEntry, type CacheRedisVariable } from './response-cache';

/** Admin commands wait this long at most: past it the cache's Redis counts as unreachable (a 503, not a hang). */
const ADMIN_COMMAND_TIMEOUT_MS = 2_000;
/** Keys per SCAN step and per UNLINK: small steps keep a big cache from blocking Redis. */
const SCAN_BATCH = 500;
/** Entries read per MGET when looking for those a model answered: at most this many whole answers in memory at once. */
const READ_BATCH = 50;

/**
 * Which entries to delete: all; one requested model's (by its model tag) and, with `answeredBy` (the model's name),
 * the entries of aliases (`auto`, `cheapest`, ...) whose answer that model gave; or those whose key starts with a hex
 * prefix.
 */
export type CacheSelector = { all: true } | { modelTag: string; answeredBy?: string } | { keyPrefix: string };

/** The model tags the aliases' entries are filed under: any model may have answered them. */
const ALIAS_TAGS: readonly string[] = MODEL_ALIASES.map((alias) => cacheModelTag(alias));

export interface CacheSize {
  entries: number;
  bytes: number;
}

/** Any model tag: entries are `<prefix>:cache:<tag>:<sha256>`; other keys under `<prefix>:cache:` are no entries. */
const ANY_TAG = '[0-9a-f]'.repeat(CACHE_MODEL_TAG_LENGTH);

/** Escapes what SCAN MATCH would read as a glob (`* ? [ ] \`) in a literal key part. */
function globLiteral(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/**
 * The response cache's Redis as an admin sees it (ADR 0005): invalidation by SCAN over the entries' key pattern,
 * in steps (no index to keep consistent with TTL expiry and LRU eviction), and the cache's size. Only keys under
 * `<prefix>:cache:` are ever deleted. Errors are thrown: the admin endpoints answer 503 for them.
 *
 * Size: a SCAN over this deployment's entries summing STRLEN, O(entries), on a Redis of its own (CACHE_REDIS_URL) as
 * on the main one. DBSIZE and INFO's dataset memory counted everything in a cache Redis shared by deployments (another
 * REDIS_PREFIX's entries too), and failed for an ACL user that may not run INFO. Callers keep the figure a while
 * (CacheAdminService): it is never read per request.
 */
export class ResponseCacheAdmin {
  private readonly redis: Redis;
  private readonly keyspace: string;

  constructor(url: string, keys: RedisKeys, errors: RedisErrors, variable: CacheRedisVariable = 'CACHE_REDIS_URL') {
    this.redis = createRedis(url, `${keys.prefix}:cache-admin`, errors, {
      failFastMs: ADMIN_COMMAND_TIMEOUT_MS,
      variable,
    });
    this.keyspace = cacheKeyspace(keys);
  }

  /** Deletes the selected entries; resolves how many there were. */
  async invalidate(selector: CacheSelector): Promise<number> {
    let deleted = 0;
    for await (const batch of this.scan(this.patternOf(selector))) {
      deleted += await this.redis.unlink(...batch);
    }
    if ('answeredBy' in selector && selector.answeredBy !== undefined) {
      for (const tag of ALIAS_TAGS) {
        if (tag !== selector.modelTag) {
          deleted += await this.deleteAnswered(tag, selector.answeredBy);
        }
      }
    }
    return deleted;
  }

  /**
   * Deletes the entries filed under `aliasTag` whose answer `model` gave. Only the answer says which model it was, so
   * each of the alias's entries is read (by MGET, READ_BATCH at a time): a clear by model costs a read of the aliases'
   * entries, the request path nothing. An entry that cannot be read is left (a lookup finds it a miss anyway).
   */
  private async deleteAnswered(aliasTag: string, model: string): Promise<number> {
    let deleted = 0;
    for await (const found of this.scan(`${globLiteral(this.keyspace)}${globLiteral(aliasTag)}:*`)) {
      for (let i = 0; i < found.length; i += READ_BATCH) {
        const batch = found.slice(i, i + READ_BATCH);
        const values = await this.redis.mget(...batch);
        const answered = batch.filter((_, j) => {
          const raw = values[j];
          return raw !== null && readCacheEntry(raw)?.result.model === model;
        });
        if (answered.length > 0) {
          deleted += await this.redis.unlink(...answered);
        }
      }
    }
    return deleted;
  }

  async size(): Promise<CacheSize> {
    let entries = 0;
    let bytes = 0;
    for await (const batch of this.scan(this.patternOf({ all: true }))) {
      const pipeline = this.redis.pipeline();
      for (const key of batch) {
        pipeline.strlen(key);
      }
      for (const [err, len] of (await pipeline.exec()) ?? []) {
        if (err === null) {
          entries++;
          bytes += Number(len);
        }
      }
    }
    return { entries, bytes };
  }

  close(): Promise<void> {
    return closeRedis(this.redis);
  }

  private patternOf(selector: CacheSelector): string {
    const space = globLiteral(this.keyspace);
    if ('modelTag' in selector) {
      return `${space}${globLiteral(selector.modelTag)}:*`;
    }
    if ('keyPrefix' in selector) {
      return `${space}${ANY_TAG}:${globLiteral(selector.keyPrefix)}*`;
    }
    return `${space}${ANY_TAG}:*`;
  }

  /** Batches of matching keys, a SCAN step each (a key may come twice: deleting it twice is harmless). */
  private async *scan(pattern: string): AsyncGenerator<string[]> {
    let cursor = '0';
    do {
      const [next, found] = await this.redis.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_BATCH);
      cursor = next;
      if (found.length > 0) {
        yield found;
      }
    } while (cursor !== '0');
  }
}
