import { Inject, Injectable } from '@nestjs/common';
import { DAY_MS } from '@aigw/core';
import { UsageReportStore, type UsageGroupBy, type UsageTotals } from '@aigw/entities';
import { QUOTA_COUNTERS, type QuotaCountersPort } from '../admin/quota-counters.port';
import type { AuthContext } from '../http/request-context';
import { rangeOf } from '../http/time-range';
import type { UsageQueryDto } from './usage-query.dto';

const DEFAULT_RANGE_MS = 30 * DAY_MS;
/** Bounds the scan of one request (the index is per user and time, so cost grows with the range). */
export const MAX_RANGE_DAYS = 366;

export type UsageGroupView = UsageTotals & Partial<Record<UsageGroupBy, string | null>>;

export interface UsageView {
  from: string;
  to: string;
  groupBy: UsageGroupBy;
  totals: UsageTotals;
  groups: UsageGroupView[];
  quota: {
    tier: string;
    dailyRequestLimit: number | null;
    monthlyRequestLimit: number | null;
    dailySpendLimitUsd: number | null;
    monthlySpendLimitUsd: number | null;
    dailyRequests: number;
    monthlyRequests: number;
    dailySpendUsd: number;
    monthlySpendUsd: number;
    /** What is left of each limit; null: unlimited. */
    remaining: {
      dailyRequests: number | null;
      monthlyRequests: number | null;
      dailySpendUsd: number | null;
      monthlySpendUsd: number | null;
    };
    resetsAt: { daily: string; monthly: string };
  };
}

function left(limit: number | null, used: number): number | null {
  return limit === null ? null : Math.max(0, Math.round((limit - used) * 1e9) / 1e9);
}

/**
 * The caller's own usage and quota: the user behind the key, never anyone else's (nor, for a key restricted by
 * allowedModels, another model's).
 */
@Injectable()
export class UsageService {
  constructor(
    private readonly reports: UsageReportStore,
    @Inject(QUOTA_COUNTERS) private readonly counters: QuotaCountersPort,
  ) {}

  async ofCaller(query: UsageQueryDto, auth: AuthContext): Promise<UsageView> {
    const now = Date.now();
    const asked = rangeOf(query, { now: new Date(now), defaultMs: DEFAULT_RANGE_MS, maxDays: MAX_RANGE_DAYS });
    const groupBy = query.groupBy ?? 'day';
    // A key restricted by allowedModels is shown its user's usage of those models only, by any of her keys (the list
    // limits which models the key sees, not whose requests): another model's name, requests or cost are not its
    // business.
    // The quota below stays the user's whole: it is what admits or refuses the key's requests.
    // Past the usage retention an edge widens to the rollups' hour or day: the answer says which range it covers.
    const [{ from, to, totals, groups }, counters] = await Promise.all([
      this.reports.summarize(auth.userId, asked.from, asked.to, groupBy, auth.policy.allowedModels),
      this.counters.read(auth.userId, now),
    ]);
    const limits = auth.policy.limits;
    return {
      from: from.toISOString(),
      to: to.toISOString(),
      groupBy,
      totals,
      groups: groups.map(({ key, ...sums }) => ({ [groupBy]: key, ...sums })),
      quota: {
        tier: auth.policy.tier,
        dailyRequestLimit: limits.dailyRequestLimit,
        monthlyRequestLimit: limits.monthlyRequestLimit,
        dailySpendLimitUsd: limits.dailySpendLimitUsd,
        monthlySpendLimitUsd: limits.monthlySpendLimitUsd,
        dailyRequests: counters.dailyRequests,
        monthlyRequests: counters.monthlyRequests,
        dailySpendUsd: counters.dailySpendUsd,
        monthlySpendUsd: counters.monthlySpendUsd,
        remaining: {
          dailyRequests: left(limits.dailyRequestLimit, counters.dailyRequests),
          monthlyRequests: left(limits.monthlyRequestLimit, counters.monthlyRequests),
          dailySpendUsd: left(limits.dailySpendLimitUsd, counters.dailySpendUsd),
          monthlySpendUsd: left(limits.monthlySpendLimitUsd, counters.monthlySpendUsd),
        },
        resetsAt: { daily: counters.dailyResetsAt, monthly: counters.monthlyResetsAt },
      },
    };
  }
}
