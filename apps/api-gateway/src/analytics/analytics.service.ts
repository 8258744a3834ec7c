import { Inject, Injectable } from '@nestjs/common';
import {
  DAY_MS,
  ErrorCode,
  floorTo,
  GatewayError,
  HOUR_MS,
  latencyPercentile,
  PROJECTION_RATE_DAYS,
  projectionWindows,
  projectMonthEnd,
  roundUsd,
} from '@aigw/core';
import { UsageAnalyticsStore, type AnalyticsGroupBy, type UsageSnapshot, type UsageSumsGroup } from '@aigw/entities';
import { rangeOf } from '../http/time-range';
import type { AdminUsageQueryDto, CostGroupBy, CostsQueryDto, RangeQueryDto } from './analytics-query.dto';
import { toCsv } from './csv';
import { figuresOf, totalOf, type UsageFigures } from './usage-views';

export const MAX_RANGE_DAYS = 400;
/** Hourly groups and series points over longer ranges are more than a chart can show. */
export const MAX_HOURLY_RANGE_DAYS = 31;
/** Metrics series: hourly points up to this range, daily beyond. */
const HOURLY_SERIES_MAX_DAYS = 7;

/** The analytics' notion of now: injectable so the month-end projection can be tested at a fixed instant. */
export const ANALYTICS_CLOCK = Symbol('ANALYTICS_CLOCK');
export type Clock = () => Date;

export interface Range {
  from: Date;
  to: Date;
}

export interface AdminUsageView {
  from: string;
  to: string;
  groupBy: string;
  page: number;
  limit: number;
  totalGroups: number;
  totals: UsageFigures;
  groups: (UsageFigures & { key: string | null })[];
}

export interface CostsView {
  from: string;
  to: string;
  by: CostGroupBy;
  totalUsd: number;
  totalSavedUsd: number;
  groups: {
    key: string | null;
    costUsd: number;
    costSavedUsd: number;
    requests: number;
    promptTokens: number;
    completionTokens: number;
  }[];
  projection: { monthEndUsd: number; dailyRateUsd: number; monthToDateUsd: number; daysLeft: number; basis: string };
}

export interface MetricsPoint {
  t: string;
  requests: number;
  failures: number;
  cacheHits: number;
  tokens: number;
  costUsd: number;
  avgLatencyMs: number | null;
  p95LatencyMs: number | null;
}

export interface MetricsView {
  from: string;
  to: string;
  requests: number;
  successes: number;
  failures: number;
  clientClosed: number;
  /** Of the requests that ended (those their client left are neither successes nor failures). */
  successRate: number | null;
  tokens: { prompt: number; completion: number; cached: number; total: number };
  costUsd: number;
  costSavedUsd: number;
  latency: { avgMs: number | null; p50Ms: number | null; p95Ms: number | null; p99Ms: number | null };
  cache: { hits: number; misses: number; hitRate: number | null };
  providers: (UsageFigures & { provider: string | null; successRate: number | null })[];
  series: { interval: 'hour' | 'day'; points: MetricsPoint[] };
}

const rate = (part: number, whole: number): number | null =>
  whole === 0 ? null : Math.round((part / whole) * 1e4) / 1e4;

/** The share of successes among the requests that ended: one its client left is neither success nor failure. */
const successRateOf = (f: UsageFigures): number | null => rate(f.successes, f.successes + f.failures);

/** Time keys as charts want them: a day as `YYYY-MM-DD`, an hour as an ISO instant. */
function keyView(key: string | null, groupBy: AnalyticsGroupBy): string | null {
  return groupBy === 'day' && key !== null ? key.slice(0, 10) : key;
}

/**
 * The cost of `range` in the snapshot `s`. The projection's ranges (the month so far, the last full days) sit inside
 * every retention (MIN_USAGE_RETENTION_DAYS): the snapshot's edges never widen them.
 */
async function costOf(s: UsageSnapshot, range: Range): Promise<number> {
  if (range.from >= range.to) {
    return 0;
  }
  const { groups } = await s.aggregateWithRange({ ...range, groupBy: 'none', latencies: false });
  return groups[0]?.costUsd ?? 0;
}

/** Usage, cost and gateway statistics for admins, from the usage rollups (ADR 0009). */
@Injectable()
export class AnalyticsService {
  constructor(
    private readonly store: UsageAnalyticsStore,
    @Inject(ANALYTICS_CLOCK) private readonly clock: Clock,
  ) {}

  async usage(q: AdminUsageQueryDto): Promise<AdminUsageView> {
    const groupBy = q.groupBy ?? 'day';
    const asked = this.range(q, 30 * DAY_MS, groupBy === 'hour' ? MAX_HOURLY_RANGE_DAYS : MAX_RANGE_DAYS);
    const page = q.page ?? 1;
    const limit = q.limit ?? 100;
    // The edges that decide whether hours are kept are the snapshot's whose rows are counted.
    const { groups, ...range } = await this.store.snapshot((s) => {
      // The hour holding `from` decides, as it does once `from` is widened to it.
      if (groupBy === 'hour' && !s.hasHoursSince(asked.from)) {
        throw new GatewayError(
          ErrorCode.InvalidRequest,
          "Invalid 'from': hourly usage is kept for USAGE_HOURLY_RETENTION_DAYS only; ask for an earlier range by 'day'.",
          { param: 'from' },
        );
      }
      return s.aggregateWithRange({ ...asked, groupBy });
    });
    if (groupBy !== 'day' && groupBy !== 'hour') {
      // Biggest first; ties by key so pages are stable.
      groups.sort((a, b) => b.requests - a.requests);
    }
    return {
      from: range.from.toISOString(),
      to: range.to.toISOString(),
      groupBy,
      page,
      limit,
      totalGroups: groups.length,
      totals: figuresOf(totalOf(groups)),
      groups: groups
        .slice((page - 1) * limit, page * limit)
        .map((g) => ({ key: keyView(g.key, groupBy), ...figuresOf(g) })),
    };
  }

  async costs(q: CostsQueryDto): Promise<CostsView> {
    const by = q.by ?? 'day';
    const asked = this.range(q, 30 * DAY_MS, MAX_RANGE_DAYS);
    const now = this.clock();
    const w = projectionWindows(now);
    // One snapshot for the groups and both projection totals: a row inserted or pruned meanwhile is in all or none,
    // so the groups, their total and the projection of the same days agree.
    const { groups, range, monthToDate, recent } = await this.store.snapshot(async (s) => {
      // No percentile is shown: leave the latency histograms out (most of the work).
      const { groups, ...range } = await s.aggregateWithRange({ ...asked, groupBy: by, latencies: false });
      const monthToDate = await costOf(s, { from: w.monthStart, to: now });
      const recent = await costOf(s, { from: w.rateFrom, to: w.rateTo });
      return { groups, range, monthToDate, recent };
    });
    if (by !== 'day') {
      groups.sort((a, b) => b.costUsd - a.costUsd);
    }
    const total = totalOf(groups);
    return {
      from: range.from.toISOString(),
      to: range.to.toISOString(),
      by,
      totalUsd: roundUsd(total.costUsd),
      totalSavedUsd: roundUsd(total.costSavedUsd),
      groups: groups.map((g) => ({
        key: keyView(g.key, by),
        costUsd: roundUsd(g.costUsd),
        costSavedUsd: roundUsd(g.costSavedUsd),
        requests: g.requests,
        promptTokens: g.promptTokens,
        completionTokens: g.completionTokens,
      })),
      projection: {
        ...projectMonthEnd(now, monthToDate, recent),
        basis: `month to date plus the average daily cost of the last ${PROJECTION_RATE_DAYS} full UTC days times the days left`,
      },
    };
  }

  /** The costs as CSV: one row per group, the header naming the grouping. */
  costsCsv(view: CostsView): string {
    return toCsv(
      [view.by, 'costUsd', 'costSavedUsd', 'requests', 'promptTokens', 'completionTokens'],
      view.groups.map((g) => [g.key, g.costUsd, g.costSavedUsd, g.requests, g.promptTokens, g.completionTokens]),
    );
  }

  async metrics(q: RangeQueryDto): Promise<MetricsView> {
    const asked = this.range(q, DAY_MS, MAX_RANGE_DAYS);
    const short = asked.to.getTime() - asked.from.getTime() <= HOURLY_SERIES_MAX_DAYS * DAY_MS;
    // One snapshot for the grain, the figures and the points: a row inserted or pruned meanwhile is in all or none,
    // and the range they cover is the same (`from`/`to`).
    const { interval, providers, series, range } = await this.store.snapshot(async (s) => {
      // Hours past USAGE_HOURLY_RETENTION_DAYS are gone: their series is by day.
      const interval: 'hour' | 'day' = short && s.hasHoursSince(asked.from) ? 'hour' : 'day';
      const { groups: providers, ...range } = await s.aggregateWithRange({ ...asked, groupBy: 'provider' });
      const series = await s.aggregateWithRange({ ...asked, groupBy: interval });
      return { interval, providers, series, range };
    });
    providers.sort((a, b) => b.requests - a.requests);
    const t = totalOf(providers);
    const f = figuresOf(t);
    return {
      from: range.from.toISOString(),
      to: range.to.toISOString(),
      requests: f.requests,
      successes: f.successes,
      failures: f.failures,
      clientClosed: f.clientClosed,
      successRate: successRateOf(f),
      tokens: {
        prompt: f.promptTokens,
        completion: f.completionTokens,
        cached: f.cachedTokens,
        total: f.promptTokens + f.completionTokens,
      },
      costUsd: f.costUsd,
      costSavedUsd: f.costSavedUsd,
      latency: {
        avgMs: f.avgLatencyMs,
        p50Ms: latencyPercentile(t.latencyBuckets, 0.5),
        p95Ms: f.p95LatencyMs,
        p99Ms: latencyPercentile(t.latencyBuckets, 0.99),
      },
      cache: { hits: f.cacheHits, misses: f.requests - f.cacheHits, hitRate: rate(f.cacheHits, f.requests) },
      providers: providers.map((p) => {
        const figures = figuresOf(p);
        return { provider: p.key, ...figures, successRate: successRateOf(figures) };
      }),
      series: { interval, points: this.points(series, interval, series.groups) },
    };
  }

  /** One point per hour or day of the range, zeros where nothing happened, so chart axes are continuous. */
  private points(range: Range, interval: 'hour' | 'day', groups: UsageSumsGroup[]): MetricsPoint[] {
    const unit = interval === 'hour' ? HOUR_MS : DAY_MS;
    const byKey = new Map(groups.map((g) => [g.key, g]));
    const points: MetricsPoint[] = [];
    for (let t = floorTo(range.from.getTime(), unit); t < range.to.getTime(); t += unit) {
      const key = new Date(t).toISOString();
      const g = byKey.get(key);
      const f = g === undefined ? null : figuresOf(g);
      points.push({
        t: key,
        requests: f?.requests ?? 0,
        failures: f?.failures ?? 0,
        cacheHits: f?.cacheHits ?? 0,
        tokens: f === null ? 0 : f.promptTokens + f.completionTokens,
        costUsd: f?.costUsd ?? 0,
        avgLatencyMs: f?.avgLatencyMs ?? null,
        p95LatencyMs: f?.p95LatencyMs ?? null,
      });
    }
    return points;
  }

  /**
   * [from, to) from the query (rangeOf), `to` defaulting to the clock's now. An edge past the usage retention is
   * widened to the hour or day the rollups still hold by `aggregateWithRange`, in the snapshot it counts, whose
   * range the answer's `from`/`to` say.
   */
  private range(q: RangeQueryDto, defaultMs: number, maxDays: number): Range {
    return rangeOf(q, { now: this.clock(), defaultMs, maxDays });
  }
}
