import { DAY_MS } from '@aigw/core';
import { RedisScript, type RedisClient } from '@aigw/routing';
import type { GovernanceKeys } from './keys';
import { nanosToUsd, periodsAt, usdToNanos } from './periods';

/** A user's usage in the current day and month, as counted for quotas. */
export interface PeriodUsage {
  dailyRequests: number;
  dailySpendUsd: number;
  monthlyRequests: number;
  monthlySpendUsd: number;
}

export interface UserPeriodUsage extends PeriodUsage {
  userId: string;
}

const DAY_KEEP_MS = DAY_MS;
const MONTH_KEEP_MS = 7 * DAY_MS;
/** How long a user's last reset time is kept (longer than any job can run). */
export const QUOTA_RESETS_KEEP_MS = 40 * DAY_MS;

/** When an admin last reset a user's quota (epoch ms), as user_quotas stores it. */
export interface UserQuotaReset {
  userId: string;
  resetAt: number;
}

/** KEYS[i] = max(KEYS[i], ARGV[2i-1]), expiring at ARGV[2i] (ms) when raised or without an expiry. */
const RAISE = new RedisScript(`
for i, key in ipairs(KEYS) do
  local want = tonumber(ARGV[2 * i - 1])
  local have = tonumber(redis.call('GET', key) or '0')
  if want > have then
    redis.call('SET', key, want, 'PXAT', ARGV[2 * i])
  elseif redis.call('PTTL', key) == -1 then
    redis.call('PEXPIREAT', key, ARGV[2 * i])
  end
end
return 0
`);

/**
 * KEYS[i] raised to ARGV[3i-2] plus what it gained since ARGV[3i] (its value at a snapshot; -1: none), expiring at
 * ARGV[3i-1] (ms) when raised or without an expiry. See `QuotaCountersStore.raise`.
 */
const RAISE_COUNTERS = new RedisScript(`
for i, key in ipairs(KEYS) do
  local want = tonumber(ARGV[3 * i - 2])
  local since = tonumber(ARGV[3 * i])
  local have = tonumber(redis.call('GET', key) or '0')
  if since >= 0 and have > since then
    want = want + have - since
  end
  if want > have then
    redis.call('SET', key, want, 'PXAT', ARGV[3 * i - 1])
  elseif redis.call('PTTL', key) == -1 then
    redis.call('PEXPIREAT', key, ARGV[3 * i - 1])
  end
end
return 0
`);

/**
 * A user's day and month counters as they stood at one moment (`QuotaCountersStore.snapshot`), in their own units
 * (spend in nano-dollars), with the day and month they count.
 */
export interface CountersSnapshot {
  day: string;
  month: string;
  /** Day requests, day spend, month requests, month spend. */
  values: [number, number, number, number];
}

/**
 * The quota counters as the admin and the user see them, and their maintenance: reset, raising one user's to
 * usage_records (after a limit is set or changed), and rebuilding everyone's after Redis lost them. Spend
 * counters include reservations of requests still running.
 */
export class QuotaCountersStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: GovernanceKeys,
  ) {}

  async read(userId: string, now: number): Promise<PeriodUsage> {
    const p = periodsAt(now);
    const k = this.keys;
    const [dr, ds, mr, ms] = await this.redis.mget(
      k.dayRequests(userId, p.day),
      k.daySpend(userId, p.day),
      k.monthRequests(userId, p.month),
      k.monthSpend(userId, p.month),
    );
    return {
      dailyRequests: Number(dr ?? 0),
      dailySpendUsd: nanosToUsd(Number(ds ?? 0)),
      monthlyRequests: Number(mr ?? 0),
      monthlySpendUsd: nanosToUsd(Number(ms ?? 0)),
    };
  }

  /**
   * Zeroes the user's current day and month (the admin reset) and records its time (`now`, the reset time written
   * to user_quotas), at once: the requests still running hold reservations the zeroed counters no longer do, and
   * their settlement, seeing another reset time, does not take the reservation off what the requests admitted after
   * the reset reserved. Whether a request's cost counts is decided by when it was received, as usage_records date it.
   */
  async reset(userId: string, now: number): Promise<void> {
    const p = periodsAt(now);
    const k = this.keys;
    const dayAt = p.dayEndsAt + DAY_KEEP_MS;
    const monthAt = p.monthEndsAt + MONTH_KEEP_MS;
    const replies = await this.redis
      .multi()
      .set(k.dayRequests(userId, p.day), 0, 'PXAT', dayAt)
      .set(k.daySpend(userId, p.day), 0, 'PXAT', dayAt)
      .set(k.monthRequests(userId, p.month), 0, 'PXAT', monthAt)
      .set(k.monthSpend(userId, p.month), 0, 'PXAT', monthAt)
      // Longer than any job can run; a reset time that expired reads as 0, older than any reservation still held.
      .set(k.quotaResets(userId), now, 'PX', QUOTA_RESETS_KEEP_MS)
      .exec();
    const failed = replies?.find(([err]) => err !== null)?.[0];
    if (failed) {
      throw failed;
    }
  }

  /**
   * Sets users' counters to what usage_records say, and their last reset times to what user_quotas say (the rebuild,
   * after Redis lost them): settlement compares a running request's receipt with the reset time, as usage_records
   * count it, so one received before a reset adds nothing to the counters rebuilt without it.
   */
  async write(rows: readonly UserPeriodUsage[], now: number, resets: readonly UserQuotaReset[] = []): Promise<void> {
    const p = periodsAt(now);
    const k = this.keys;
    const dayAt = p.dayEndsAt + DAY_KEEP_MS;
    const monthAt = p.monthEndsAt + MONTH_KEEP_MS;
    for (let i = 0; i < rows.length; i += 500) {
      const batch = this.redis.multi();
      for (const r of rows.slice(i, i + 500)) {
        batch.set(k.dayRequests(r.userId, p.day), r.dailyRequests, 'PXAT', dayAt);
        batch.set(k.daySpend(r.userId, p.day), usdToNanos(r.dailySpendUsd), 'PXAT', dayAt);
        batch.set(k.monthRequests(r.userId, p.month), r.monthlyRequests, 'PXAT', monthAt);
        batch.set(k.monthSpend(r.userId, p.month), usdToNanos(r.monthlySpendUsd), 'PXAT', monthAt);
      }
      await batch.exec();
    }
    // Raised, never lowered: an admin reset made after the rows were read has already set a later time.
    const live = resets.filter((r) => r.resetAt + QUOTA_RESETS_KEEP_MS > now);
    for (let i = 0; i < live.length; i += 100) {
      const batch = live.slice(i, i + 100);
      await RAISE.run(
        this.redis,
        batch.map((r) => k.quotaResets(r.userId)),
        batch.flatMap((r) => [String(r.resetAt), String(r.resetAt + QUOTA_RESETS_KEEP_MS)]),
      );
    }
  }

  /** The user's day and month counters as they stand (one MGET), for a later `raise` (`since`). */
  async snapshot(userId: string, now: number): Promise<CountersSnapshot> {
    const p = periodsAt(now);
    const k = this.keys;
    const values = await this.redis.mget(
      k.dayRequests(userId, p.day),
      k.daySpend(userId, p.day),
      k.monthRequests(userId, p.month),
      k.monthSpend(userId, p.month),
    );
    return {
      day: p.day,
      month: p.month,
      values: [Number(values[0] ?? 0), Number(values[1] ?? 0), Number(values[2] ?? 0), Number(values[3] ?? 0)],
    };
  }

  /**
   * Raises users' counters to what usage_records say, never lowering one: a limit set or changed on a user counts
   * what they spent before it, while the counters keep the reservations of their requests still running (a plain
   * `write` would drop those, and each running request's settlement would then take its reservation off a counter
   * that never held it). One script call per 100 users, each key compared and set atomically.
   *
   * `since` (per user id): the counters as they stood before the change was committed. What a counter gained since
   * (the requests admitted under the new limit meanwhile: the change reaches the replicas before this runs) is added
   * to usage_records' figure, which does not hold them: raised to that figure alone, a counter lost their charge (a
   * user without a limit had none counted, and the figure of what they spent before replaced the new requests').
   */
  async raise(
    rows: readonly UserPeriodUsage[],
    now: number,
    since: ReadonlyMap<string, CountersSnapshot> = new Map(),
  ): Promise<void> {
    const p = periodsAt(now);
    const k = this.keys;
    const dayAt = String(p.dayEndsAt + DAY_KEEP_MS);
    const monthAt = String(p.monthEndsAt + MONTH_KEEP_MS);
    for (let i = 0; i < rows.length; i += 100) {
      const keys: string[] = [];
      const args: string[] = [];
      for (const r of rows.slice(i, i + 100)) {
        // A snapshot of another day or month (taken before midnight) says nothing of these counters.
        const at = since.get(r.userId);
        const day = at?.day === p.day ? at.values : undefined;
        const month = at?.month === p.month ? at.values : undefined;
        keys.push(k.dayRequests(r.userId, p.day), k.daySpend(r.userId, p.day));
        keys.push(k.monthRequests(r.userId, p.month), k.monthSpend(r.userId, p.month));
        args.push(String(r.dailyRequests), dayAt, String(day?.[0] ?? -1));
        args.push(String(usdToNanos(r.dailySpendUsd)), dayAt, String(day?.[1] ?? -1));
        args.push(String(r.monthlyRequests), monthAt, String(month?.[2] ?? -1));
        args.push(String(usdToNanos(r.monthlySpendUsd)), monthAt, String(month?.[3] ?? -1));
      }
      await RAISE_COUNTERS.run(this.redis, keys, args);
    }
  }

  async isRebuilt(): Promise<boolean> {
    return (await this.redis.exists(this.keys.epoch)) === 1;
  }

  /** Marks the counters trustworthy (after a rebuild). */
  async markRebuilt(now: number): Promise<void> {
    await this.redis.set(this.keys.epoch, String(now));
  }

  /** One rebuild at a time across replicas; the lock expires if its holder dies. */
  async lockRebuild(holder: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(this.keys.rebuildLock, holder, 'PX', ttlMs, 'NX')) === 'OK';
  }

  async unlockRebuild(): Promise<void> {
    await this.redis.del(this.keys.rebuildLock);
  }
}
