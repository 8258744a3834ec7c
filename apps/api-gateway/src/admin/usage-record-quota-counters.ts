import { Injectable } from '@nestjs/common';
import { QuotaStore, UsageReportStore } from '@aigw/entities';
import type { QuotaCounters, QuotaCountersPort } from './quota-counters.port';

/** Start of the UTC day and month holding `now`, and of the next ones. */
export function quotaPeriods(now: number): { day: Date; month: Date; nextDay: Date; nextMonth: Date } {
  const d = new Date(now);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  const day = d.getUTCDate();
  return {
    day: new Date(Date.UTC(y, m, day)),
    month: new Date(Date.UTC(y, m, 1)),
    nextDay: new Date(Date.UTC(y, m, day + 1)),
    nextMonth: new Date(Date.UTC(y, m + 1, 1)),
  };
}

function later(a: Date, b: Date | null): Date {
  return b !== null && b > a ? b : a;
}

/**
 * TEMPORARY QuotaCountersPort: counts usage_records since the start of the day and month (or since an admin
 * reset, when later). It lags behind admission by the usage writer's batching and sees no reservation in
 * flight; the Redis-backed counters replace it under the same token. Never on the request path.
 */
@Injectable()
export class UsageRecordQuotaCounters implements QuotaCountersPort {
  constructor(
    private readonly quotas: QuotaStore,
    private readonly usage: UsageReportStore,
  ) {}

  async read(userId: string, now: number): Promise<QuotaCounters> {
    const periods = quotaPeriods(now);
    const quota = await this.quotas.get(userId);
    const end = new Date(now + 1);
    const [daily, monthly] = await Promise.all([
      this.usage.summarize(userId, later(periods.day, quota?.dailyResetAt ?? null), end, 'day'),
      this.usage.summarize(userId, later(periods.month, quota?.monthlyResetAt ?? null), end, 'day'),
    ]);
    return {
      dailyRequests: daily.totals.requests,
      monthlyRequests: monthly.totals.requests,
      dailySpendUsd: daily.totals.costUsd,
      monthlySpendUsd: monthly.totals.costUsd,
      dailyResetsAt: periods.nextDay.toISOString(),
      monthlyResetsAt: periods.nextMonth.toISOString(),
    };
  }

  /** Nothing to zero: read() already counts from the reset times the quota store set. */
  reset(): Promise<void> {
    return Promise.resolve();
  }
}
