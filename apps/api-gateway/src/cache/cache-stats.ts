import { Inject, Injectable } from '@nestjs/common';
import { METRICS_REGISTRY, MetricName, REDIS, RedisErrors, RedisFinalWrites, RedisKeys } from '@aigw/platform';
import type { Redis } from 'ioredis';
import { Counter, type Registry } from 'prom-client';

/** How a request used the response cache: the `x-gateway-cache` values. */
export type CacheResult = 'hit' | 'miss' | 'bypass' | 'stale';
export const CACHE_RESULTS: readonly CacheResult[] = ['hit', 'miss', 'bypass', 'stale'];

export type CacheCounts = Record<CacheResult, number>;

/** How often a replica adds its counts to the shared totals. */
const FLUSH_EVERY_MS = 1_000;

function zero(): CacheCounts {
  return { hit: 0, miss: 0, bypass: 0, stale: 0 };
}

/**
 * Cache hit/miss/bypass/stale counts: per process for Prometheus (`aigw_cache_requests_total{result}`, summed across
 * replicas by the query), and totals shared by every replica for the admin stats, kept in a hash in the main Redis.
 * Counting costs the request path nothing but an increment: counts collect in process and each replica adds them
 * with one HINCRBY pipeline a second (and before it reads the totals), so a total lags other replicas by at most
 * that. A failed flush keeps its counts for the next one. The last flush is one of REDIS's final writes, after the
 * HTTP server drained (answers finished meanwhile are counted) and before the connection closes.
 */
@Injectable()
export class CacheStats {
  private pending = zero();
  private readonly counters: Record<CacheResult, Counter.Internal>;
  private readonly key: string;
  private readonly timer: NodeJS.Timeout;
  private flushing: Promise<void> | null = null;

  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    keys: RedisKeys,
    private readonly errors: RedisErrors,
    @Inject(METRICS_REGISTRY) registry: Registry,
    finalWrites: RedisFinalWrites,
  ) {
    // Outside the cache's own keyspace (`<prefix>:cache:`), so clearing the cache keeps the totals.
    this.key = keys.key('cache-stats');
    const counter = new Counter({
      name: MetricName.CacheRequests,
      help: 'Requests by how they used the response cache: hit, miss, bypass (off, skipped or unreachable), stale.',
      labelNames: ['result'],
      registers: [registry],
    });
    // Resolved once: every result is exported from the start, at 0.
    this.counters = {
      hit: counter.labels({ result: 'hit' }),
      miss: counter.labels({ result: 'miss' }),
      bypass: counter.labels({ result: 'bypass' }),
      stale: counter.labels({ result: 'stale' }),
    };
    for (const r of CACHE_RESULTS) {
      this.counters[r].inc(0);
    }
    this.timer = setInterval(() => void this.flush(), FLUSH_EVERY_MS);
    this.timer.unref();
    finalWrites.add(() => {
      clearInterval(this.timer);
      return this.flush();
    });
  }

  count(result: CacheResult): void {
    this.pending[result]++;
    this.counters[result].inc();
  }

  /** Every replica's counts since the totals began, this one's included up to now. */
  async totals(): Promise<CacheCounts> {
    await this.flush();
    const raw = await this.redis.hgetall(this.key);
    const out = zero();
    for (const r of CACHE_RESULTS) {
      out[r] = Number(raw[r] ?? 0);
    }
    return out;
  }

  /** Adds this replica's pending counts to the totals; one flush at a time. */
  flush(): Promise<void> {
    this.flushing ??= this.flushPending().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  private async flushPending(): Promise<void> {
    const counts = this.pending;
    const results = CACHE_RESULTS.filter((r) => counts[r] > 0);
    if (results.length === 0) {
      return;
    }
    this.pending = zero();
    // MULTI: all of the counts are added or none, so a retry never counts twice.
    const tx = this.redis.multi();
    for (const r of results) {
      tx.hincrby(this.key, r, counts[r]);
    }
    try {
      const replies = await tx.exec();
      if (replies === null) {
        throw new Error('the cache stats transaction was aborted');
      }
    } catch (err) {
      // Counted again by the next flush.
      for (const r of results) {
        this.pending[r] += counts[r];
      }
      this.errors.report('cache_stats', err);
    }
  }
}
