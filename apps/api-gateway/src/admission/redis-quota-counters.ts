import { Inject, Injectable } from '@nestjs/common';
import { QuotaUsageStore } from '@aigw/entities';
import { GovernanceKeys, periodStarts, periodsAt, QuotaCountersStore, type CountersSnapshot } from '@aigw/governance';
import { REDIS, RedisKeys, MigratedDatabase } from '@aigw/platform';
import type { Redis } from 'ioredis';
import type { QuotaCounters, QuotaCountersPort } from '../admin/quota-counters.port';
import { QuotaRebuilder } from './quota-rebuilder';

/**
 * The quota counters as the admin and usage views show them: per field, the higher of the live counters admission
 * checks (reservations of running requests included) and what usage_records hold since the period started or was
 * reset (which includes what admission never counted: the usage of a user without limits, or before a limit was
 * set). After Redis lost the counters they are rebuilt first, as admission does.
 */
@Injectable()
export class RedisQuotaCounters implements QuotaCountersPort {
  private readonly counters: QuotaCountersStore;
  private readonly usage: QuotaUsageStore;

  constructor(
    @Inject(REDIS) redis: Redis,
    keys: RedisKeys,
    db: MigratedDatabase,
    private readonly rebuilder: QuotaRebuilder,
  ) {
    this.counters = new QuotaCountersStore(redis, new GovernanceKeys(keys.prefix));
    this.usage = new QuotaUsageStore(db.dataSource);
  }

  async read(userId: string, now: number): Promise<QuotaCounters> {
    if (!(await this.counters.isRebuilt())) {
      await this.rebuilder.trigger();
    }
    const { dayStart, monthStart } = periodStarts(now);
    const [live, recorded] = await Promise.all([
      this.counters.read(userId, now),
      this.usage.userTotals(userId, new Date(dayStart), new Date(monthStart)),
    ]);
    const p = periodsAt(now);
    return {
      dailyRequests: Math.max(live.dailyRequests, recorded.dailyRequests),
      dailySpendUsd: Math.max(live.dailySpendUsd, recorded.dailySpendUsd),
      monthlyRequests: Math.max(live.monthlyRequests, recorded.monthlyRequests),
      monthlySpendUsd: Math.max(live.monthlySpendUsd, recorded.monthlySpendUsd),
      dailyResetsAt: new Date(p.dayEndsAt).toISOString(),
      monthlyResetsAt: new Date(p.monthEndsAt).toISOString(),
    };
  }

  async reset(userId: string, at: Date): Promise<void> {
    await this.counters.reset(userId, at.getTime());
  }

  /**
   * Raises a user's counters to what usage_records say: after a limit is set or raised from nothing, admission then
   * counts from what the user already spent today and this month rather than from zero. Never lowers them: they
   * hold the reservations of the user's running requests, which usage_records cannot; nor drops what they gained
   * since `before` (`QuotaCountersStore.raise`).
   */
  async reseed(userId: string, before: CountersSnapshot): Promise<void> {
    const now = Date.now();
    const { dayStart, monthStart } = periodStarts(now);
    const row = await this.usage.userTotals(userId, new Date(dayStart), new Date(monthStart));
    await this.counters.raise([row], now, new Map([[userId, before]]));
  }

  snapshot(userId: string): Promise<CountersSnapshot> {
    return this.counters.snapshot(userId, Date.now());
  }
}
