import { Inject, Injectable, Logger } from '@nestjs/common';
import { isModelAlias, policyOfAlias, setBounded, type PreferenceChain, type RoutingPolicy } from '@aigw/core';
import { PreferenceStore, preferenceRefOf, type PreferenceRoute } from '@aigw/entities';
import { MigratedDatabase } from '@aigw/platform';
import { ROUTING_CONFIG, type RoutingConfig } from './routing-config';
import { FallibleRead } from './fallible-read';

/** A changed preference takes effect within this long. */
export const PREFERENCE_CACHE_MS = 10_000;
const CACHE_MAX_USERS = 10_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A user's stored preference rows that matter to routing. */
export interface PreferenceRow {
  /** '' is the user's default. */
  context: string;
  model: string;
  policy: RoutingPolicy | null;
}

/** The policy a preference row asks for: its own, else the one its model alias stands for. */
function policyOfRow(row: PreferenceRow | undefined): RoutingPolicy | null {
  if (row === undefined) {
    return null;
  }
  if (row.policy !== null && row.policy !== 'preference') {
    return row.policy;
  }
  return isModelAlias(row.model) ? policyOfAlias(row.model) : null;
}

/**
 * The preference chain of a request: the user's preference for its context, the user's default, the
 * system default; ordered within each group by the policy the most specific row names (else cost).
 */
export function preferenceChainOf(
  rows: readonly PreferenceRow[],
  context: string | undefined,
  systemDefault: string | null,
): PreferenceChain {
  const forContext = context ? rows.find((r) => r.context === context) : undefined;
  const userDefault = rows.find((r) => r.context === '');
  return {
    context: forContext?.model ?? null,
    userDefault: userDefault?.model ?? null,
    systemDefault,
    then: policyOfRow(forContext) ?? policyOfRow(userDefault),
  };
}

interface Cached {
  expiresAt: number;
  rows: Promise<PreferenceRow[]>;
  /** The rows as the gateway renders a user's preferences (`preferencesStringOf`), '' without any. */
  rendered: Promise<string>;
  /** The gateway's rendering this entry was read again for or found to match (see `chainFor`): not compared again. */
  readFor?: string;
}

/**
 * The user's preference rows as the gateway's key lookup renders them (`context=provider/model|policy`, see
 * ApiKeyStore.findActiveByKey), order aside: what a response cache key holds. Entries are compared sorted, so
 * PostgreSQL's collation of the contexts does not matter.
 */
export function preferencesStringOf(routes: readonly PreferenceRoute[]): string {
  return canonicalPreferences(
    routes.map((r) => `${r.context}=${r.provider ?? ''}/${r.model}|${r.policy ?? ''}`).join(','),
  );
}

function canonicalPreferences(rendered: string): string {
  return rendered.split(',').sort().join(',');
}

/**
 * Reads `user_preferences` for the preference policy, with a short per-process cache so a busy user costs
 * one query per PREFERENCE_CACHE_MS. PostgreSQL being slow or down never fails a request: it is routed as
 * if the user had no preferences.
 */
@Injectable()
export class PreferenceReader {
  private readonly logger = new Logger(PreferenceReader.name);
  /** PostgreSQL slow or down: the request is routed without preferences. */
  private readonly reads = new FallibleRead(this.logger, 'user preferences not read, routing without them');
  private readonly cache = new Map<string, Cached>();
  private readonly store: PreferenceStore;

  constructor(
    db: MigratedDatabase,
    @Inject(ROUTING_CONFIG) private readonly config: RoutingConfig,
  ) {
    this.store = new PreferenceStore(db.dataSource);
  }

  /**
   * `seen`: the user's preferences as the gateway saw them when it keyed the request's response cache entry by them
   * ('' for none; see CacheFill.preferences). Cached rows that differ are read again at once (once per difference),
   * so the answer stored under that key is the preferred deployment's, not that of a preference changed within
   * PREFERENCE_CACHE_MS, which would otherwise be served from the cache for its whole TTL. '' routes without
   * preferences: the entry is shared by every user without any.
   */
  async chainFor(userId: string, context: string | undefined, seen?: string): Promise<PreferenceChain> {
    return preferenceChainOf(await this.rowsOf(userId, seen), context, this.config.defaultModel);
  }

  private async rowsOf(userId: string, seen: string | undefined): Promise<PreferenceRow[]> {
    if (seen === '') {
      // Keyed as a request of a user without preferences, shared with every such user: routed as theirs (a cache
      // warming job of an admin with preferences, a user whose preferences came after the gateway's key lookup).
      return [];
    }
    const now = Date.now();
    const hit = this.cache.get(userId);
    if (hit !== undefined && hit.expiresAt > now) {
      if (seen === undefined || hit.readFor === seen) {
        return hit.rows;
      }
      const wanted = canonicalPreferences(seen);
      if ((await hit.rendered) === wanted) {
        hit.readFor = seen;
        return hit.rows;
      }
      // Only the first request that finds the difference reads again; the entry it leaves is the newest read.
      if (this.cache.get(userId) === hit) {
        this.cache.delete(userId);
        const fresh = this.read(userId, now);
        fresh.readFor = seen;
      }
      return this.cache.get(userId)?.rows ?? hit.rows;
    }
    return this.read(userId, now).rows;
  }

  /** Reads the user's rows into the cache. */
  private read(userId: string, now: number): Cached {
    const routes = this.query(userId);
    const entry: Cached = {
      expiresAt: now + PREFERENCE_CACHE_MS,
      rows: routes.then((found) =>
        found.map((r) => ({ context: r.context, model: preferenceRefOf(r.provider, r.model), policy: r.policy })),
      ),
      rendered: routes.then(preferencesStringOf),
    };
    setBounded(this.cache, userId, entry, CACHE_MAX_USERS);
    return entry;
  }

  private query(userId: string): Promise<PreferenceRoute[]> {
    // A user id that is no UUID has no rows (and must not make PostgreSQL look broken).
    return UUID.test(userId) ? this.reads.run(() => this.store.routes(userId), []) : Promise.resolve([]);
  }
}
