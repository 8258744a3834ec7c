import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { DAY_MS } from '@aigw/core';
import { METRICS_REGISTRY, MetricName, REDIS, RedisErrors, RedisFinalWrites, RedisKeys } from '@aigw/platform';
import { RedisScript } from '@aigw/routing';
import type { Redis } from 'ioredis';
import { Counter, type Registry } from 'prom-client';

/** How a request used the response cache: the `x-gateway-cache` values. */
export type CacheResult = 'hit' | 'miss' | 'bypass' | 'stale';
export const CACHE_RESULTS: readonly CacheResult[] = ['hit', 'miss', 'bypass', 'stale'];

export type CacheCounts = Record<CacheResult, number>;

/** How often a replica adds its counts to the shared totals. */
const FLUSH_EVERY_MS = 1_000;

/**
 * How long Redis remembers the last flush it applied of a replica: a flush whose answer was lost is sent again until
 * one is answered (a second apart), so this only has to outlast a replica cut off from a Redis that kept running.
 */
const APPLIED_KEEP_MS = 7 * DAY_MS;

/**
 * Adds one flush of a replica to the totals, once. KEYS: 1 the totals hash, 2 the replica's last applied flush.
 * ARGV: 1 the flush's sequence number (rising by one per flush of the replica), 2 APPLIED_KEEP_MS, then pairs of
 * result and count. A flush at or below the last applied one is Redis seeing again one it applied already (sent
 * again by ioredis at a reconnection, or by the replica after an error): it adds nothing. Returns 1 when it added.
 */
const ADD_ONCE = new RedisScript(`
local seq = tonumber(ARGV[1])
if tonumber(redis.call('GET', KEYS[2]) or '0') >= seq then
  return 0
end
for i = 3, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('SET', KEYS[2], seq, 'PX', ARGV[2])
return 1
`);

/** A flush sent to Redis and not answered yet (or answered with an error): sent again as it is until answered. */
interface Flush {
  seq: number;
  counts: CacheCounts;
}

function zero(): CacheCounts {
  return { hit: 0, miss: 0, bypass: 0, stale: 0 };
}

/**
 * Cache hit/miss/bypass/stale counts: per process for Prometheus (`aigw_cache_requests_total{result}`, summed across
 * replicas by the query), and totals shared by every replica for the admin stats, kept in a hash in the main Redis.
 * Counting costs the request path nothing but an increment: counts collect in process and each replica adds them
 * with one script call a second (and before it reads the totals), so a total lags other replicas by at most that.
 * A flush whose answer did not come (an error, a dropped connection) may have been applied or not: it is sent again,
 * the same counts under the same sequence number, before anything counted since, and Redis applies each flush of a
 * replica once (ADD_ONCE). The last flush is one of REDIS's final writes, after the HTTP server drained (answers
 * finished meanwhile are counted) and before the connection closes.
 */
@Injectable()
export class CacheStats {
  private pending = zero();
  /** The flush Redis may have applied without this replica knowing: sent again before any other. */
  private unsettled: Flush | null = null;
  private seq = 0;
  /** Where Redis keeps this replica's last applied flush: per process, so replicas' sequences never meet. */
  private readonly appliedKey: string;
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
    this.appliedKey = keys.key('cache-stats-applied', randomUUID());
    const counter = new Counter({
      name: MetricName.CacheRequests,
      help:
        'Requests by how they used the response cache: hit, miss, bypass (off, skipped or unreachable), stale. ' +
        'Async jobs (never looked up; their answers only fill it) are not counted.',
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
    if (this.flushing !== null) {
      // A flush on its way took the counts made before it: those since are added by the next one (joining it left
      // them out).
      await this.flushing;
    }
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
    // The unanswered flush first (its counts as they were sent), then what was counted until now as a new one: not
    // what is counted while that is sent, or a flush under steady traffic would never end.
    if (this.unsettled !== null && !(await this.send(this.unsettled))) {
      return;
    }
    const next = this.nextFlush();
    if (next !== null) {
      await this.send(next);
    }
  }

  /** Sends `flush`; false when no answer came (it stays unsettled, for the next flush to send again). */
  private async send(flush: Flush): Promise<boolean> {
    this.unsettled = flush;
    const args: (string | number)[] = [flush.seq, APPLIED_KEEP_MS];
    for (const r of CACHE_RESULTS) {
      if (flush.counts[r] > 0) {
        args.push(r, flush.counts[r]);
      }
    }
    try {
      await ADD_ONCE.run(this.redis, [this.key, this.appliedKey], args);
    } catch (err) {
      // Applied or not, Redis knows which: the next flush sends it again, and it is added once.
      this.errors.report('cache_stats', err);
      return false;
    }
    this.unsettled = null;
    return true;
  }

  /** The counts since the last flush as the next flush; null when there are none. */
  private nextFlush(): Flush | null {
    const counts = this.pending;
    if (!CACHE_RESULTS.some((r) => counts[r] > 0)) {
      return null;
    }
    this.pending = zero();
    return { seq: ++this.seq, counts };
  }
}
