import { hash } from 'node:crypto';
import { setBounded } from '@aigw/core';

export interface ApiKeyCacheOptions {
  /** How long a found key is trusted (revocation takes effect within this time). 0 disables caching. */
  ttlMs: number;
  /** How long an unknown key is remembered as unknown (keeps key-guessing off the database). */
  negativeTtlMs: number;
  /** Bound of each of the two maps (found / not found), so a flood of random keys cannot grow memory. */
  maxEntries: number;
  /**
   * How long the refresh of a key known from an earlier lookup may take before that lookup answers instead (the
   * refresh carries on and updates the cache when it lands): a store that stopped answering must not hold every
   * request until its own timeout. A key never seen always waits for the store. Unset: no bound.
   */
  staleAfterMs?: number;
  now?: () => number;
}

interface Entry<T> {
  value: T;
  expiresAt: number;
}

/**
 * In-process cache of API-key lookups, keyed by the SHA-256 of the key so the plaintext is never
 * retained. Hits answer synchronously (the hot path does no I/O); concurrent misses for one key share
 * a single lookup. Unknown keys live in their own map: guessing keys cannot evict valid ones.
 */
export class ApiKeyCache<T> {
  private readonly found = new Map<string, Entry<T>>();
  private readonly unknown = new Map<string, number>();
  private readonly inFlight = new Map<string, Promise<T | null>>();
  private readonly now: () => number;
  /** Bumped by `forget`: a lookup that began before it may have read what changed, and is not kept. */
  private generation = 0;

  constructor(
    private readonly lookup: (key: string) => Promise<T | null>,
    private readonly opts: ApiKeyCacheOptions,
  ) {
    this.now = opts.now ?? Date.now;
  }

  /** The cached answer (synchronously) when fresh, else a promise of the looked-up one. */
  resolve(key: string): T | null | Promise<T | null> {
    // One-shot hash: several times cheaper than createHash(), and this runs on every request.
    const id = hash('sha256', key, 'hex');
    const now = this.now();
    const hit = this.found.get(id);
    if (hit !== undefined && hit.expiresAt > now) {
      return hit.value;
    }
    const unknownUntil = this.unknown.get(id);
    if (unknownUntil !== undefined && unknownUntil > now) {
      return null;
    }
    return this.inFlight.get(id) ?? this.load(id, key, hit);
  }

  get size(): number {
    return this.found.size + this.unknown.size;
  }

  /**
   * Drops every found entry `matches` (a revoked key, changed limits): they are looked up again on next use. Lookups
   * in flight answer the requests that were waiting for them but are not kept, nor joined by later requests, since
   * they may have read the database before the change. O(entries).
   */
  forget(matches: (value: T) => boolean): void {
    this.generation++;
    for (const [id, entry] of this.found) {
      if (matches(entry.value)) {
        this.found.delete(id);
      }
    }
    // A request after this one must not join a lookup begun before it: that lookup may have read the key before it
    // was revoked, or (a refresh the store is slow to answer) have answered from the last lookup already, and it stays
    // in flight until the store answers (up to the pool's timeouts). The next request starts its own lookup.
    this.inFlight.clear();
  }

  private load(id: string, key: string, stale: Entry<T> | undefined): Promise<T | null> {
    const generation = this.generation;
    // A lookup dropped by `forget` must not remove the one begun after it for the same key. (`entry`, declared below,
    // is read only once the lookup settles: never synchronously.)
    const settled = (): void => {
      if (this.inFlight.get(id) === entry) {
        this.inFlight.delete(id);
      }
    };
    const pending = this.lookup(key).then(
      (value) => {
        settled();
        if (generation !== this.generation) {
          // Read before a change that `forget` announced: answers this request, is not kept.
          return value;
        }
        if (value === null) {
          this.found.delete(id);
          setBounded(this.unknown, id, this.now() + this.opts.negativeTtlMs, this.opts.maxEntries);
        } else {
          this.unknown.delete(id);
          setBounded(this.found, id, { value, expiresAt: this.now() + this.opts.ttlMs }, this.opts.maxEntries);
        }
        return value;
      },
      (err: unknown) => {
        settled();
        // The store is unreachable: a key that was valid a moment ago stays valid for one more TTL
        // rather than locking every client out while the database recovers; not one `forget` dropped since.
        if (stale !== undefined && generation === this.generation) {
          setBounded(
            this.found,
            id,
            { value: stale.value, expiresAt: this.now() + this.opts.ttlMs },
            this.opts.maxEntries,
          );
          return stale.value;
        }
        throw err;
      },
    );
    const entry = stale === undefined ? pending : this.orStale(pending, stale.value, generation);
    this.inFlight.set(id, entry);
    return entry;
  }

  /**
   * `pending`, or `value` when it has not settled within `staleAfterMs` and no `forget` came since the refresh
   * began (a revoked key must not be answered from its last lookup). One timer per refresh, not per request.
   */
  private orStale(pending: Promise<T | null>, value: T, generation: number): Promise<T | null> {
    const afterMs = this.opts.staleAfterMs;
    if (afterMs === undefined) {
      return pending;
    }
    return new Promise<T | null>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (generation === this.generation) {
          resolve(value);
        }
      }, afterMs);
      timer.unref();
      pending.then(
        (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });
  }
}
