import type { DataSource } from 'typeorm';
import type { UsageCutoffsSource } from './usage-retention';
import { UsageAnalyticsStore } from './usage-analytics.store';

export type UsageGroupBy = 'day' | 'model' | 'provider';
export const USAGE_GROUP_BYS: readonly UsageGroupBy[] = ['day', 'model', 'provider'];

export interface UsageTotals {
  requests: number;
  promptTokens: number;
  completionTokens: number;
  cachedPromptTokens: number;
  /** Requests answered from the gateway's response cache (usage_records.cached), not prompt-cache tokens. */
  cachedRequests: number;
  costUsd: number;
}

/** One group: `key` is the UTC day (`YYYY-MM-DD`), the model, or the provider (null: no provider answered). */
export interface UsageGroup extends UsageTotals {
  key: string | null;
}

/** One user's usage report, answered from the usage rollups (see UsageAnalyticsStore). */
export class UsageReportStore {
  private readonly analytics: UsageAnalyticsStore;

  constructor(dataSource: DataSource, gone?: UsageCutoffsSource) {
    this.analytics = new UsageAnalyticsStore(dataSource, gone);
  }

  /**
   * Totals and groups of `userId`'s requests in [from, to), and the range they cover: past the usage retention an
   * edge widens to the rollups' hour or day (`UsageAnalyticsStore.aggregateWithRange`, in the snapshot it counts).
   * `allowedModels`: an API key's allow-list, whose key is shown the usage of the models it may use only.
   */
  async summarize(
    userId: string,
    from: Date,
    to: Date,
    groupBy: UsageGroupBy,
    allowedModels: readonly string[] | null = null,
  ): Promise<{ from: Date; to: Date; totals: UsageTotals; groups: UsageGroup[] }> {
    const { groups: rows, ...range } = await this.analytics.aggregateWithRange({
      from,
      to,
      groupBy,
      userId,
      allowedModels,
      latencies: false,
    });
    // A group of failed attempts only (a deployment that failed before a fallback answered) holds none of the
    // user's requests, and usually no tokens and no cost: left out rather than listed with zeros. Unless its provider
    // charged for a failed call: that is spend of the user's (her quota counts it), listed with 0 requests, so that
    // the totals are the same whatever the grouping (by day the charge is in the request's own day).
    const groups = rows
      .filter(
        (r) => r.requests > 0 || r.costUsd !== 0 || [r.promptTokens, r.completionTokens, r.cachedTokens].some(Boolean),
      )
      .map((r) => ({
        key: groupBy === 'day' && r.key !== null ? r.key.slice(0, 10) : r.key,
        requests: r.requests,
        promptTokens: r.promptTokens,
        completionTokens: r.completionTokens,
        cachedPromptTokens: r.cachedTokens,
        cachedRequests: r.cacheHits,
        costUsd: r.costUsd,
      }));
    const totals: UsageTotals = {
      requests: 0,
      promptTokens: 0,
      completionTokens: 0,
      cachedPromptTokens: 0,
      cachedRequests: 0,
      costUsd: 0,
    };
    for (const g of groups) {
      totals.requests += g.requests;
      totals.promptTokens += g.promptTokens;
      totals.completionTokens += g.completionTokens;
      totals.cachedPromptTokens += g.cachedPromptTokens;
      totals.cachedRequests += g.cachedRequests;
      totals.costUsd += g.costUsd;
    }
    totals.costUsd = roundUsd(totals.costUsd);
    return { ...range, totals, groups };
  }
}

/** numeric(18,9) sums come back exact; a float sum of groups is rounded back to that precision. */
function roundUsd(v: number): number {
  return Math.round(v * 1e9) / 1e9;
}
