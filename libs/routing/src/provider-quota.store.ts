import { DAY_MS, type QuotaSnapshot, type QuotaWindow, type Route } from '@aigw/core';
import type { RedisClient } from './redis-script';

/** The hash lives this long after the last write: a provider nobody called for a day shows no quota. */
export const PROVIDER_QUOTA_TTL_MS = DAY_MS;

/** The hash of every provider's last seen rate limits in one deployment namespace (REDIS_PREFIX). */
export function providerQuotaKey(namespace: string): string {
  return `${namespace}:provider-quota`;
}

/** A provider's snapshots by route; a route never observed is absent. */
export type ProviderQuotas = Partial<Record<Route, QuotaSnapshot>>;

export interface QuotaEntry {
  providerId: string;
  route: Route;
  snapshot: QuotaSnapshot;
}

const ROUTES: readonly Route[] = ['direct', 'gateway'];

/** Provider ids are `[A-Za-z0-9][A-Za-z0-9._-]*`: the colon cannot be part of one. */
function fieldOf(providerId: string, route: Route): string {
  return `${providerId}:${route}`;
}

function count(v: unknown): v is number | null {
  return v === null || (typeof v === 'number' && Number.isFinite(v));
}

function windowOf(v: unknown): QuotaWindow | null | undefined {
  if (v === null) {
    return null;
  }
  if (typeof v !== 'object') {
    return undefined;
  }
  const w = v as Record<string, unknown>;
  return count(w.limit) && count(w.remaining) && count(w.resetAt)
    ? { limit: w.limit, remaining: w.remaining, resetAt: w.resetAt }
    : undefined;
}

/** A stored value back to a snapshot; undefined for anything else (an older format, a hand edit). */
function snapshotOf(raw: string): QuotaSnapshot | undefined {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) {
    return undefined;
  }
  const s = v as Record<string, unknown>;
  const requests = windowOf(s.requests);
  const tokens = windowOf(s.tokens);
  if (requests === undefined || tokens === undefined || typeof s.observedAt !== 'number') {
    return undefined;
  }
  return { requests, tokens, observedAt: s.observedAt };
}

/**
 * Providers' rate limits as the workers last saw them, in one Redis hash (field `<provider>:<route>`, value the
 * snapshot as JSON). Workers write what changed in one round trip (HSET of every field, then PEXPIRE); the
 * admin API reads the whole hash with one HGETALL. Last writer wins per field: workers flush once a second, so a
 * field is at most that much behind the newest response any worker saw.
 */
export class ProviderQuotaStore {
  private readonly key: string;

  constructor(
    private readonly redis: RedisClient,
    namespace: string,
    private readonly ttlMs: number = PROVIDER_QUOTA_TTL_MS,
  ) {
    this.key = providerQuotaKey(namespace);
  }

  async write(entries: readonly QuotaEntry[]): Promise<void> {
    if (entries.length === 0) {
      return;
    }
    const fields: string[] = [];
    for (const e of entries) {
      fields.push(fieldOf(e.providerId, e.route), JSON.stringify(e.snapshot));
    }
    // One write on a connection corked per turn; no MULTI (an ioredis pipeline object, two more commands): the
    // expiry only lets the hash go once no worker writes it any more.
    await Promise.all([this.redis.hset(this.key, ...fields), this.redis.pexpire(this.key, this.ttlMs)]);
  }

  /** Drops what was seen of a deleted provider, on every route. */
  async forget(providerId: string): Promise<void> {
    await this.redis.hdel(this.key, ...ROUTES.map((route) => fieldOf(providerId, route)));
  }

  /** Every provider's snapshots; fields that do not parse are left out. */
  async readAll(): Promise<Map<string, ProviderQuotas>> {
    const raw = await this.redis.hgetall(this.key);
    const out = new Map<string, ProviderQuotas>();
    for (const [field, value] of Object.entries(raw)) {
      const at = field.lastIndexOf(':');
      const route = field.slice(at + 1);
      const snapshot = snapshotOf(value);
      if (at <= 0 || (route !== 'direct' && route !== 'gateway') || snapshot === undefined) {
        continue;
      }
      const providerId = field.slice(0, at);
      const quotas = out.get(providerId) ?? {};
      quotas[route] = snapshot;
      out.set(providerId, quotas);
    }
    return out;
  }
}
