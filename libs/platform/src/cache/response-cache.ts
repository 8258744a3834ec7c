import type { CacheFill, GenerationResult } from '@aigw/core';
import type { Redis } from 'ioredis';
import { closeRedis, createRedis, type RedisKeys } from '../redis/redis';
import type { RedisErrors } from '../redis/redis-errors';

/** A cache command waits no longer than this: past it, the request goes on without the cache (`bypass`). */
const CACHE_COMMAND_TIMEOUT_MS = 250;

/** The Redis key of an entry; every key the cache writes starts with `cacheKeyspace(keys)`. */
export function cacheEntryKey(keys: RedisKeys, modelTag: string, key: string): string {
  return keys.key('cache', modelTag, key);
}

/** The common start of every entry's Redis key (`<prefix>:cache:`). */
export function cacheKeyspace(keys: RedisKeys): string {
  return keys.key('cache', '');
}

export type CacheLookup = { status: 'hit'; result: GenerationResult } | { status: 'miss' } | { status: 'bypass' };

/**
 * An entry kept past its freshness for stale answers (`CacheFill.staleTtlS`): its Redis TTL covers both, and
 * `freshUntil` (epoch ms) says until when it is a hit. An entry without stale time is the bare answer.
 */
interface KeptEntry {
  freshUntil: number;
  result: GenerationResult;
}

/** An entry read back: its answer, and until when it is fresh (null: as long as Redis keeps it). */
export interface StoredEntry {
  result: GenerationResult;
  freshUntil: number | null;
}

type Fields = Record<string, unknown>;

function isFields(value: unknown): value is Fields {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** The counts a hit's usage row reads; `totalTokens` and `cachedPromptTokens` are numbers when present. */
const USAGE_COUNTS = ['promptTokens', 'completionTokens'] as const;
const OPTIONAL_COUNTS = ['totalTokens', 'cachedPromptTokens'] as const;
const OPTIONAL_LISTS = ['toolCalls', 'embeddings', 'thinkingBlocks'] as const;

/**
 * Whether a stored value has what serving it reads (the answer's text, finish reason, deployment, usage, cost and its
 * lists): a value of another layout served as an answer failed the request (a 500 on `usage.promptTokens`).
 */
function isAnswer(value: unknown): value is GenerationResult {
  if (!isFields(value)) {
    return false;
  }
  const { usage } = value;
  return (
    typeof value.text === 'string' &&
    (value.finishReason === null || typeof value.finishReason === 'string') &&
    typeof value.provider === 'string' &&
    typeof value.model === 'string' &&
    typeof value.costUsd === 'number' &&
    isFields(usage) &&
    USAGE_COUNTS.every((k) => typeof usage[k] === 'number') &&
    OPTIONAL_COUNTS.every((k) => usage[k] === undefined || typeof usage[k] === 'number') &&
    OPTIONAL_LISTS.every((k) => value[k] === undefined || Array.isArray(value[k]))
  );
}

/**
 * An entry's value read back, or null when it holds no answer this version can serve: not JSON (cut short, written by
 * something else) or JSON of another layout (an older version's, a hand-made one). Such an entry is a miss that the
 * request's own answer replaces: unparsable JSON was a `bypass` reported as a failure of the cache's Redis (an outage
 * in the log, and no coalescing), and a value with an answer's deployment but not its usage a 500 on every identical
 * request until it expired (nothing ran to replace it).
 */
export function readCacheEntry(raw: string): StoredEntry | null {
  let entry: unknown;
  try {
    entry = JSON.parse(raw);
  } catch {
    return null;
  }
  if (isFields(entry) && 'freshUntil' in entry) {
    const kept = entry as Partial<KeptEntry>;
    return typeof kept.freshUntil === 'number' && isAnswer(kept.result)
      ? { result: kept.result, freshUntil: kept.freshUntil }
      : null;
  }
  return isAnswer(entry) ? { result: entry, freshUntil: null } : null;
}

/**
 * The stored form of an answer (the bare answer, or `{freshUntil, result}` when the fill keeps it for stale answers),
 * or null when it is larger than the fill's `maxEntryBytes`: such an answer is not stored.
 */
export function cacheEntryOf(fill: CacheFill, result: GenerationResult): string | null {
  const raw = JSON.stringify(
    (fill.staleTtlS ?? 0) > 0 ? ({ freshUntil: Date.now() + fill.ttlS * 1000, result } satisfies KeptEntry) : result,
  );
  return Buffer.byteLength(raw) > fill.maxEntryBytes ? null : raw;
}

/** The variable the cache's Redis URL came from: the messages about that connection name the one the operator set. */
export type CacheRedisVariable = 'CACHE_REDIS_URL' | 'REDIS_URL';

/**
 * The response cache's Redis: CACHE_REDIS_URL when set, else the main REDIS_URL, with the variable it came from. A
 * database index the server refuses stops the process naming that variable: "CACHE_REDIS_URL (else REDIS_URL)" was
 * named whichever was set, so with REDIS_URL alone the line named a variable nobody set, or not, depending on which of
 * the process's connections heard the refusal first.
 */
export function cacheRedisOf(env: { CACHE_REDIS_URL?: string; REDIS_URL: string }): {
  url: string;
  variable: CacheRedisVariable;
} {
  return env.CACHE_REDIS_URL !== undefined
    ? { url: env.CACHE_REDIS_URL, variable: 'CACHE_REDIS_URL' }
    : { url: env.REDIS_URL, variable: 'REDIS_URL' };
}

/**
 * The response cache's Redis (ADR 0005): whole answers under `<prefix>:cache:<modelTag>:<sha256>`, each with its TTL
 * (the model tag lets an admin drop one model's entries by pattern, see ResponseCacheAdmin). Its own connection (CACHE_REDIS_URL, else REDIS_URL) that never queues commands while Redis is away, so an outage costs
 * a request nothing but the cache. Errors are reported as op `cache` and never thrown.
 */
export class ResponseCache {
  private readonly redis: Redis;

  constructor(
    url: string,
    private readonly keys: RedisKeys,
    private readonly errors: RedisErrors,
    variable: CacheRedisVariable = 'CACHE_REDIS_URL',
  ) {
    this.redis = createRedis(url, `${keys.prefix}:cache`, errors, { failFastMs: CACHE_COMMAND_TIMEOUT_MS, variable });
  }

  /** A fresh entry is a hit; one only kept for stale answers, or one that cannot be read (`readCacheEntry`), a miss. */
  async lookup(modelTag: string, key: string): Promise<CacheLookup> {
    let raw: string | null;
    try {
      raw = await this.redis.get(this.entryKey(modelTag, key));
    } catch (err) {
      this.errors.report('cache', err);
      return { status: 'bypass' };
    }
    const entry = raw === null ? null : readCacheEntry(raw);
    return entry !== null && (entry.freshUntil === null || entry.freshUntil > Date.now())
      ? { status: 'hit', result: entry.result }
      : { status: 'miss' };
  }

  /** Any readable entry still kept, fresh or not: the last fallback when every provider failed. Null on any failure. */
  async lookupStale(modelTag: string, key: string): Promise<GenerationResult | null> {
    let raw: string | null;
    try {
      raw = await this.redis.get(this.entryKey(modelTag, key));
    } catch (err) {
      this.errors.report('cache', err);
      return null;
    }
    return raw === null ? null : (readCacheEntry(raw)?.result ?? null);
  }

  /** Stores an answer unless it is larger than the fill allows; resolves whether it was stored. */
  async fill(fill: CacheFill, result: GenerationResult): Promise<boolean> {
    const raw = cacheEntryOf(fill, result);
    if (raw === null) {
      return false;
    }
    try {
      await this.redis.set(this.entryKey(fill.modelTag, fill.key), raw, 'EX', fill.ttlS + (fill.staleTtlS ?? 0));
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

  private entryKey(modelTag: string, key: string): string {
    return cacheEntryKey(this.keys, modelTag, key);
  }
}
