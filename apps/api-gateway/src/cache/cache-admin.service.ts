import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { cacheModelTag, ErrorCode, GatewayError, isModelAlias, resolveModelRef } from '@aigw/core';
import { AuditLogStore } from '@aigw/entities';
import {
  CatalogService,
  ENV,
  METRICS_REGISTRY,
  MetricName,
  RedisErrors,
  RedisKeys,
  ResponseCacheAdmin,
  cacheRedisOf,
  type CacheSelector,
  type CacheSize,
} from '@aigw/platform';
import { Gauge, type Registry } from 'prom-client';
import { actorOf } from '../admin/admin-views';
import { GatewayEnv } from '../config/gateway-env';
import type { AuthContext } from '../http/request-context';
import type { InvalidateCacheQuery } from './cache-admin.dto';
import { CacheStats } from './cache-stats';

export interface CacheStatsView {
  hits: number;
  misses: number;
  bypasses: number;
  stale: number;
  /** hits / (hits + misses): of the requests that looked in the cache, how many it answered; null before any. */
  hitRate: number | null;
  entries: number;
  bytes: number;
  /** CACHE_ENABLED: whether a model without a catalog `cache.enabled` of its own is cached. */
  enabledByDefault: boolean;
  /** The deployments (`provider/model`, sorted) whose answers are cached, by their catalog setting over the default. */
  enabledDeployments: string[];
}

/**
 * A scrape reuses a size this recent (measuring it is a SCAN of the entries), or, for a cache whose SCAN took long, one
 * measured within ten times that: scrapes never keep its Redis busy over a tenth of the time.
 */
const SIZE_MAX_AGE_MS = 10_000;
const SIZE_AGE_PER_MEASURED_MS = 10;

/**
 * Clearing and measuring the response cache (ADR 0005), and its size gauges (`aigw_cache_entries`,
 * `aigw_cache_bytes`, read on scrape). Its Redis unreachable means a 503, never a hang: commands fail fast.
 */
@Injectable()
export class CacheAdminService implements OnApplicationShutdown {
  private readonly store: ResponseCacheAdmin;
  private measured: { at: number; maxAgeMs: number; settled: boolean; size: Promise<CacheSize> } | null = null;
  private readonly enabledByDefault: boolean;

  constructor(
    @Inject(ENV) env: GatewayEnv,
    keys: RedisKeys,
    errors: RedisErrors,
    private readonly counts: CacheStats,
    private readonly catalog: CatalogService,
    private readonly audit: AuditLogStore,
    @Inject(METRICS_REGISTRY) registry: Registry,
  ) {
    this.enabledByDefault = env.CACHE_ENABLED;
    const { url, variable } = cacheRedisOf(env);
    this.store = new ResponseCacheAdmin(url, keys, errors, variable);
    const gauge = (name: MetricName, help: string, field: keyof CacheSize): void => {
      const size = (): Promise<CacheSize> => this.recentSize();
      new Gauge({
        name,
        help,
        registers: [registry],
        async collect() {
          // Unreachable: the gauge keeps its last value (the redis errors counter tells the outage).
          const s = await size().catch(() => null);
          if (s !== null) {
            this.set(s[field]);
          }
        },
      });
    };
    gauge(
      MetricName.CacheEntries,
      'Entries in the response cache (refreshed on scrape, at most every 10 s).',
      'entries',
    );
    gauge(
      MetricName.CacheBytes,
      "Bytes of the response cache's entries (their values' sizes), this deployment's only.",
      'bytes',
    );
  }

  async invalidate(query: InvalidateCacheQuery, auth: AuthContext): Promise<{ deleted: number }> {
    const selector = this.selectorOf(query);
    const deleted = await unavailableAs503(this.store.invalidate(selector));
    this.measured = null;
    await this.audit.record({
      actor: actorOf(auth),
      action: 'cache.clear',
      target: 'cache',
      before: null,
      after: {
        ...(query.model === undefined ? {} : { model: query.model }),
        ...(query.prefix === undefined ? {} : { prefix: query.prefix }),
        deleted,
      },
    });
    return { deleted };
  }

  async stats(): Promise<CacheStatsView> {
    const [counts, size] = await Promise.all([
      unavailableAs503(this.counts.totals(), 'The cache statistics could not be read from Redis; retry shortly.'),
      unavailableAs503(this.recentSize({ fresh: true })),
    ]);
    const looked = counts.hit + counts.miss;
    return {
      hits: counts.hit,
      misses: counts.miss,
      bypasses: counts.bypass,
      stale: counts.stale,
      hitRate: looked === 0 ? null : counts.hit / looked,
      entries: size.entries,
      bytes: size.bytes,
      enabledByDefault: this.enabledByDefault,
      enabledDeployments: this.catalog
        .deployments()
        .filter((d) => d.model.cache?.enabled ?? this.enabledByDefault)
        .map((d) => d.id)
        .sort(),
    };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.store.close();
  }

  private selectorOf(query: InvalidateCacheQuery): CacheSelector {
    if (query.model !== undefined && query.prefix !== undefined) {
      throw new GatewayError(ErrorCode.InvalidRequest, 'Give model or prefix, not both.', { param: 'prefix' });
    }
    if (query.model !== undefined) {
      // Without a provider prefix the catalog knows; an alias's own entries only (its answers are every model's).
      const { model } = resolveModelRef(query.model, this.catalog.knownProviderIds());
      const modelTag = cacheModelTag(model);
      return isModelAlias(model) ? { modelTag } : { modelTag, answeredBy: model };
    }
    return query.prefix !== undefined ? { keyPrefix: query.prefix } : { all: true };
  }

  /**
   * The cache's size, measured again when the last measurement is too old, or is over and `fresh` (the stats
   * endpoint: an admin who just filled or cleared the cache sees it). A measurement still running is always joined:
   * concurrent scrapes and stats calls run one SCAN.
   */
  private recentSize(opts: { fresh?: boolean } = {}): Promise<CacheSize> {
    const now = Date.now();
    const last = this.measured;
    if (last === null || (last.settled && (opts.fresh === true || now - last.at > last.maxAgeMs))) {
      const size = this.store.size();
      const measured = { at: now, maxAgeMs: SIZE_MAX_AGE_MS, settled: false, size };
      this.measured = measured;
      size.then(
        () => {
          measured.settled = true;
          measured.maxAgeMs = Math.max(SIZE_MAX_AGE_MS, (Date.now() - now) * SIZE_AGE_PER_MEASURED_MS);
        },
        () => {
          if (this.measured === measured) {
            this.measured = null;
          }
        },
      );
      return size;
    }
    return last.size;
  }
}

const UNREACHABLE = "The response cache's Redis is unreachable; retry shortly.";

async function unavailableAs503<T>(work: Promise<T>, message = UNREACHABLE): Promise<T> {
  try {
    return await work;
  } catch (err) {
    throw new GatewayError(ErrorCode.ServiceUnavailable, message, {
      retryAfterMs: 1_000,
      cause: err,
    });
  }
}
