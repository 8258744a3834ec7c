import { DAY_MS } from '@aigw/core';
import type { DataSource } from 'typeorm';
import { UsageRecordEntity } from '../entities/usage-record.entity';
import { UserQuotaEntity } from '../entities/user-quota.entity';
import { tableRef } from '../table-ref';
import { UsageAnalyticsStore, type UsageSnapshot } from './usage-analytics.store';

/** A user's requests and spend in the current day and month, as quotas count them. */
export interface QuotaUsageRow {
  userId: string;
  dailyRequests: number;
  dailySpendUsd: number;
  monthlyRequests: number;
  monthlySpendUsd: number;
}

/** When an admin last reset a user's quota (epoch ms): the reset time stored in user_quotas. */
export interface QuotaResetRow {
  userId: string;
  resetAt: number;
}

/**
 * What usage_records say the quota counters should hold: requests and cost since the start of the UTC day
 * and month, or since an admin reset when that came later. `periodTotals` rebuilds every user's Redis counters
 * (never on the request path) in one query; `userTotals` answers one user's from the rollups. Requests are the
 * requests' own rows; cost is every row's, a failed attempt's included (its provider charged for it, see `Charge`).
 */
export class QuotaUsageStore {
  private readonly analytics: UsageAnalyticsStore;

  constructor(private readonly dataSource: DataSource) {
    this.analytics = new UsageAnalyticsStore(dataSource);
  }

  /**
   * One user's totals, as `periodTotals` counts them, from the usage rollups (ADR 0009): the user's and admins'
   * quota views (`GET /api/v1/ai/usage`, which the console polls) read them on every call, and a raw count read
   * every record of the user's month (0.7 s at 500,000 records, growing all month); the rollups hold a few rows
   * per day and key. Exact, like every rollup query: a reset in the middle of a day is read from the hourly rollups
   * and the raw records of its hour. The day and the month are summed in one snapshot; the reset times are read
   * before it, on their own: a reset committed in between only changes where the next answer starts counting.
   */
  async userTotals(userId: string, dayStart: Date, monthStart: Date): Promise<QuotaUsageRow> {
    const resets = await this.dataSource.query<{ daily_reset_at: Date | null; monthly_reset_at: Date | null }[]>(
      `SELECT daily_reset_at, monthly_reset_at FROM ${tableRef(this.dataSource, UserQuotaEntity)} WHERE user_id = $1`,
      [userId],
    );
    const dayFrom = later(dayStart, resets[0]?.daily_reset_at);
    const monthFrom = later(monthStart, resets[0]?.monthly_reset_at);
    const dayEnd = new Date(dayStart.getTime() + DAY_MS);
    const monthEnd = new Date(Date.UTC(monthStart.getUTCFullYear(), monthStart.getUTCMonth() + 1, 1));
    // One snapshot for both: a row inserted meanwhile is in the day and the month alike, or in neither.
    const { day, month } = await this.analytics.snapshot(async (s) => {
      const day = await sumOf(s, userId, dayFrom, dayEnd);
      const month = await sumOf(s, userId, monthFrom, monthEnd);
      return { day, month };
    });
    return {
      userId,
      dailyRequests: day.requests,
      dailySpendUsd: day.costUsd,
      monthlyRequests: month.requests,
      monthlySpendUsd: month.costUsd,
    };
  }

  async periodTotals(dayStart: Date, monthStart: Date): Promise<QuotaUsageRow[]> {
    const usage = tableRef(this.dataSource, UsageRecordEntity);
    const quotas = tableRef(this.dataSource, UserQuotaEntity);
    const rows = await this.dataSource.query<
      { user_id: string; dr: string; ds: string | null; mr: string; ms: string | null }[]
    >(
      `SELECT u.user_id,
              count(*) FILTER (WHERE u.attempt_of IS NULL
                AND u.created_at >= greatest($1, coalesce(q.daily_reset_at, $1))) AS dr,
              sum(u.cost_usd) FILTER (WHERE u.created_at >= greatest($1, coalesce(q.daily_reset_at, $1))) AS ds,
              count(*) FILTER (WHERE u.attempt_of IS NULL
                AND u.created_at >= greatest($2, coalesce(q.monthly_reset_at, $2))) AS mr,
              sum(u.cost_usd) FILTER (WHERE u.created_at >= greatest($2, coalesce(q.monthly_reset_at, $2))) AS ms
         FROM ${usage} u
         LEFT JOIN ${quotas} q ON q.user_id = u.user_id
        WHERE u.created_at >= $2
        GROUP BY u.user_id`,
      [dayStart, monthStart],
    );
    return rows.map((r) => ({
      userId: r.user_id,
      dailyRequests: Number(r.dr),
      dailySpendUsd: Number(r.ds ?? 0),
      monthlyRequests: Number(r.mr),
      monthlySpendUsd: Number(r.ms ?? 0),
    }));
  }

  /**
   * Every user's last admin reset from `since` on (the later of the day's and the month's reset times, which a reset
   * sets alike): the rebuild restores them with the counters, as settlement compares a request's receipt with them.
   */
  async resetsSince(since: Date): Promise<QuotaResetRow[]> {
    const rows = await this.dataSource.query<{ user_id: string; reset_at: Date }[]>(
      `SELECT user_id, greatest(daily_reset_at, monthly_reset_at) AS reset_at
         FROM ${tableRef(this.dataSource, UserQuotaEntity)}
        WHERE greatest(daily_reset_at, monthly_reset_at) >= $1`,
      [since],
    );
    return rows.map((r) => ({ userId: r.user_id, resetAt: new Date(r.reset_at).getTime() }));
  }
}

/** `userId`'s requests and cost in [from, to), in the snapshot `s`. */
async function sumOf(
  s: UsageSnapshot,
  userId: string,
  from: Date,
  to: Date,
): Promise<{ requests: number; costUsd: number }> {
  const { groups } = await s.aggregateWithRange({ from, to, groupBy: 'none', userId, latencies: false });
  return { requests: groups[0]?.requests ?? 0, costUsd: groups[0]?.costUsd ?? 0 };
}

function later(start: Date, reset: Date | null | undefined): Date {
  return reset !== null && reset !== undefined && reset > start ? reset : start;
}
