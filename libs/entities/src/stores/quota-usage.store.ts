import type { DataSource } from 'typeorm';
import { UsageRecordEntity } from '../entities/usage-record.entity';
import { UserQuotaEntity } from '../entities/user-quota.entity';
import { tableRef } from '../table-ref';

/** A user's requests and spend in the current day and month, as quotas count them. */
export interface QuotaUsageRow {
  userId: string;
  dailyRequests: number;
  dailySpendUsd: number;
  monthlyRequests: number;
  monthlySpendUsd: number;
}

/**
 * What usage_records say the quota counters should hold: requests and cost since the start of the UTC day
 * and month, or since an admin reset when that came later. Used to rebuild the Redis counters (never on the
 * request path), so one query covers every user with usage this month.
 */
export class QuotaUsageStore {
  constructor(private readonly dataSource: DataSource) {}

  async periodTotals(dayStart: Date, monthStart: Date, userId?: string): Promise<QuotaUsageRow[]> {
    const usage = tableRef(this.dataSource, UsageRecordEntity);
    const quotas = tableRef(this.dataSource, UserQuotaEntity);
    const params: unknown[] = [dayStart, monthStart];
    if (userId !== undefined) {
      params.push(userId);
    }
    const rows = await this.dataSource.query<
      { user_id: string; dr: string; ds: string | null; mr: string; ms: string | null }[]
    >(
      `SELECT u.user_id,
              count(*) FILTER (WHERE u.created_at >= greatest($1, coalesce(q.daily_reset_at, $1))) AS dr,
              sum(u.cost_usd) FILTER (WHERE u.created_at >= greatest($1, coalesce(q.daily_reset_at, $1))) AS ds,
              count(*) FILTER (WHERE u.created_at >= greatest($2, coalesce(q.monthly_reset_at, $2))) AS mr,
              sum(u.cost_usd) FILTER (WHERE u.created_at >= greatest($2, coalesce(q.monthly_reset_at, $2))) AS ms
         FROM ${usage} u
         LEFT JOIN ${quotas} q ON q.user_id = u.user_id
        WHERE u.created_at >= $2 ${userId === undefined ? '' : 'AND u.user_id = $3'}
        GROUP BY u.user_id`,
      params,
    );
    return rows.map((r) => ({
      userId: r.user_id,
      dailyRequests: Number(r.dr),
      dailySpendUsd: Number(r.ds ?? 0),
      monthlyRequests: Number(r.mr),
      monthlySpendUsd: Number(r.ms ?? 0),
    }));
  }
}
