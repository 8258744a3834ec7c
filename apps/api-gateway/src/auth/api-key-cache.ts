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
 * A lookup under way. `stale`: the last lookup of the key it refreshes (none for a key not cached). `forgotten`: a
 * `forget` since it began may concern it (see `forget`).
 */
interface Flight<T> {
  answer: Promise<T | null>;
  stale: T | undefined;
  forgotten: boolean;
}

/**
 * In-process cache of API-key lookups, keyed by the SHA-256 of the key so the plaintext is never
 * retained. Hits answer synchronously (the hot path does no I/O); concurrent misses for one key share
 * a single lookup. Unknown keys live in their own map: guessing keys cannot evict valid ones.
 */
export class ApiKeyCache<T> {
  private readonly found = new Map<string, Entry<T>>();
  private readonly unknown = new Map<string, number>();
  private readonly inFlight = new Map<string, Flight<T>>();
  private readonly now: () => number;

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
    return this.inFlight.get(id)?.answer ?? this.load(id, key, hit);
  }

  get size(): number {
    return this.found.size + this.unknown.size;
  }

  /**
   * Drops every found entry `matches` (a revoked key, changed limits): they are looked up again on next use. A lookup
   * in flight that may concern the change (a refresh of a matching entry, or of a key not cached, whose caller is not
   * known yet) answers the requests already waiting for it, but is not kept, never answers from the key's last lookup,
   * and is not joined by later requests: it may have read the database before the change, and it stays in flight
   * until the store answers (up to the pool's timeouts). A refresh of another caller's key is left alone: a change of
   * one user (which any user makes by setting a preference) does not cost the others their last lookup while
   * PostgreSQL stalls. O(entries).
   */
  forget(matches: (value: T) => boolean): void {
    for (const [id, entry] of this.found) {
      if (matches(entry.value)) {
        this.found.delete(id);
      }
    }
    for (const [id, flight] of this.inFlight) {
      if (flight.stale === undefined || matches(flight.stale)) {
        flight.forgotten = true;
        this.inFlight.delete(id);
      }
    }
  }

  private load(id: string, key: string, stale: Entry<T> | undefined): Promise<T | null> {
    // `answer` is set below, before the flight is shared: the lookup's handlers need the flight first.
    const flight: Flight<T> = { answer: Promise.resolve(null), stale: stale?.value, forgotten: false };
    // A lookup `forget` dropped must not remove the one begun after it for the same key.
    const settled = (): void => {
      if (this.inFlight.get(id) === flight) {
        this.inFlight.delete(id);
      }
    };
    const pending = this.lookup(key).then(
      (value) => {
        settled();
        if (flight.forgotten) {
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
        if (stale !== undefined && !flight.forgotten) {
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
    flight.answer = stale === undefined ? pending : this.orStale(pending, stale.value, flight);
    this.inFlight.set(id, flight);
    return flight.answer;
  }

  /**
   * `pending`, or `value` (the key's last lookup) when it has not settled within `staleAfterMs` and no `forget`
   * concerning it came since the refresh began (a revoked key must not be answered from its last lookup). One timer
   * per refresh, not per request.
   */
  private orStale(pending: Promise<T | null>, value: T, flight: Flight<T>): Promise<T | null> {
    const afterMs = this.opts.staleAfterMs;
    if (afterMs === undefined) {
      return pending;
    }
    return new Promise<T | null>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (!flight.forgotten) {
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
