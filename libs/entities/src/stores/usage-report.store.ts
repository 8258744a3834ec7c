import type { DataSource } from 'typeorm';
import { UsageRecordEntity } from '../entities/usage-record.entity';
import { tableRef } from '../table-ref';

export type UsageGroupBy = 'day' | 'model' | 'provider';
export const USAGE_GROUP_BYS: readonly UsageGroupBy[] = ['day', 'model', 'provider'];

export interface UsageTotals {
  requests: number;
  promptTokens: number;
  completionTokens: number;
  cachedPromptTokens: number;
  costUsd: number;
}

/** One group: `key` is the UTC day (`YYYY-MM-DD`), the model, or the provider (null: no provider answered). */
export interface UsageGroup extends UsageTotals {
  key: string | null;
}

// SQL of each grouping; fixed strings, never built from input.
const GROUP_SQL: { readonly [G in UsageGroupBy]: string } = {
  day: `to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')`,
  // A request no deployment answered is grouped under what the client asked for.
  model: `COALESCE(model, requested_model)`,
  provider: `provider`,
};

interface RawTotals {
  requests: string;
  prompt: string;
  completion: string;
  cached: string;
  cost: string | null;
}

function totalsOf(r: RawTotals | undefined): UsageTotals {
  return {
    requests: Number(r?.requests ?? 0),
    promptTokens: Number(r?.prompt ?? 0),
    completionTokens: Number(r?.completion ?? 0),
    cachedPromptTokens: Number(r?.cached ?? 0),
    costUsd: Number(r?.cost ?? 0),
  };
}

const SUMS = `count(*) AS requests, COALESCE(sum(prompt_tokens), 0) AS prompt,
  COALESCE(sum(completion_tokens), 0) AS completion, COALESCE(sum(cached_tokens), 0) AS cached,
  COALESCE(sum(cost_usd), 0) AS cost`;

/** Reports over usage_records for one user; every query runs on the (user_id, created_at) index. */
export class UsageReportStore {
  constructor(private readonly dataSource: DataSource) {}

  /** Totals and groups of `userId`'s requests in [from, to). */
  async summarize(
    userId: string,
    from: Date,
    to: Date,
    groupBy: UsageGroupBy,
  ): Promise<{ totals: UsageTotals; groups: UsageGroup[] }> {
    const table = tableRef(this.dataSource, UsageRecordEntity);
    const key = GROUP_SQL[groupBy];
    const rows = await this.dataSource.query<(RawTotals & { key: string | null })[]>(
      `SELECT ${key} AS key, ${SUMS}
         FROM ${table}
        WHERE user_id = $1 AND created_at >= $2 AND created_at < $3
        GROUP BY 1
        ORDER BY 1 NULLS LAST`,
      [userId, from, to],
    );
    const groups = rows.map((r) => ({ key: r.key, ...totalsOf(r) }));
    const totals = totalsOf(undefined);
    for (const g of groups) {
      totals.requests += g.requests;
      totals.promptTokens += g.promptTokens;
      totals.completionTokens += g.completionTokens;
      totals.cachedPromptTokens += g.cachedPromptTokens;
      totals.costUsd += g.costUsd;
    }
    totals.costUsd = roundUsd(totals.costUsd);
    return { totals, groups };
  }
}

/** numeric(18,9) sums come back exact; a float sum of groups is rounded back to that precision. */
function roundUsd(v: number): number {
  return Math.round(v * 1e9) / 1e9;
}
