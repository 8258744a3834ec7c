import { addHistogram, ceilTo, DAY_MS, emptyHistogram, floorTo, HOUR_MS } from '@aigw/core';
import type { DataSource, EntityManager } from 'typeorm';
import { UsageRecordEntity } from '../entities/usage-record.entity';
import {
  UsageDailyEntity,
  UsageDeploymentDailyEntity,
  UsageDeploymentHourlyEntity,
  UsageHourlyEntity,
} from '../entities/usage-rollup.entity';
import { tableRef } from '../table-ref';
import {
  BUCKET_COUNTS_SQL,
  BUCKET_SUMS_SQL,
  RAW_BUCKET_SQL,
  RAW_CALL_SQL,
  RAW_CLIENT_CLOSED_SQL,
  RAW_MODEL_SQL,
  RAW_PROVIDER_SQL,
} from './usage-rollup-sql';
import { readSnapshot } from './read-snapshot';
import { KEEP_ALL_CUTOFFS, type UsageCutoffs, type UsageCutoffsSource } from './usage-retention';

export type AnalyticsGroupBy = 'provider' | 'model' | 'deployment' | 'user' | 'day' | 'hour' | 'none';

/** Sums of one group of usage. */
export interface UsageSums {
  requests: number;
  successes: number;
  cacheHits: number;
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  costUsd: number;
  costSavedUsd: number;
  latencySumMs: number;
  /** Requests per latency bucket (LATENCY_BUCKET_BOUNDS_MS). */
  latencyBuckets: number[];
  /**
   * Provider attempts that failed before their request's last one (a fallback's failed deployments), under the
   * deployment they failed on. Not requests: `requests` counts each client request once, where it ended.
   */
  failedAttempts: number;
  /**
   * Provider calls of the deployment: the requests it answered or failed with a call of their own (not response-cache
   * hits nor coalesced followers) and the failed attempts; `failedCalls` those that failed.
   */
  calls: number;
  failedCalls: number;
  /** Requests their client left (`client_closed_request`): in `requests`, neither successes nor failures. */
  clientClosed: number;
}

/**
 * `key`: the provider (null: none answered), the model (the requested one when none answered), the deployment as
 * `provider/model` (`/model`, the requested one, when none answered; provider ids hold no '/'), the user id, the
 * UTC day or hour as an ISO timestamp, or null for `none`.
 */
export interface UsageSumsGroup extends UsageSums {
  key: string | null;
}

export interface AnalyticsQuery {
  from: Date;
  to: Date;
  groupBy: AnalyticsGroupBy;
  /** Only this user's usage. */
  userId?: string;
  /**
   * Only the usage of deployments an API key's allow-list allows (`mayUseDeployment`'s rule: a model name, a
   * `provider/model`, a `provider/*`), and of requests nothing answered whose requested model the list names. Absent
   * or null: every model.
   */
  allowedModels?: readonly string[] | null;
  /**
   * Sum the latency histograms too (default true). They are most of a query's work: leave them out where no
   * percentile is shown, and the groups come back with all-zero histograms.
   */
  latencies?: boolean;
}

/**
 * What `aggregate` answered and the range it covered: the one asked, except where an edge lies past what the pruning
 * kept. Past the raw edge (USAGE_RETENTION_DAYS) an edge widens to its whole UTC hour (the hourly rollups'); past the
 * hourly edge (USAGE_HOURLY_RETENTION_DAYS) to its whole UTC day; past the daily edge nothing is left. Worked out from
 * the edges read in the same snapshot as the rows.
 */
export interface UsageAggregate {
  from: Date;
  to: Date;
  groups: UsageSumsGroup[];
}

/** One snapshot's reads (`UsageAnalyticsStore.snapshot`). */
export interface UsageSnapshot {
  /**
   * Whether hourly figures are still kept for everything from `from` on (a `groupBy: 'hour'` query needs them), by the
   * snapshot's edges (no query).
   */
  hasHoursSince(from: Date): boolean;
  /** `UsageAnalyticsStore.aggregateWithRange` in the snapshot (one query). */
  aggregateWithRange(query: AnalyticsQuery): Promise<UsageAggregate>;
}

type Source = 'raw' | 'hourly' | 'daily';

/** The time a rollup row stands for is already truncated to this. */
const GRAIN_MS: Record<Source, number> = { raw: 0, hourly: HOUR_MS, daily: DAY_MS };

interface Part {
  source: Source;
  from: Date;
  to: Date;
}

const ROLLUPS = {
  user: { hourly: UsageHourlyEntity, daily: UsageDailyEntity },
  deployment: { hourly: UsageDeploymentHourlyEntity, daily: UsageDeploymentDailyEntity },
} as const;

/**
 * Splits [from, to) into pieces each source answers exactly: raw records for the partial hours at the edges,
 * hourly rollups for the partial days (or everything when grouping by hour), daily rollups for whole days.
 */
export function planParts(from: Date, to: Date, groupBy: AnalyticsGroupBy): Part[] {
  const parts: Part[] = [];
  const add = (source: Source, a: number, b: number): void => {
    if (a < b) {
      parts.push({ source, from: new Date(a), to: new Date(b) });
    }
  };
  const f = from.getTime();
  const t = to.getTime();
  const h1 = ceilTo(f, HOUR_MS);
  const h2 = floorTo(t, HOUR_MS);
  if (h1 >= h2) {
    add('raw', f, t);
    return parts;
  }
  add('raw', f, h1);
  const d1 = ceilTo(h1, DAY_MS);
  const d2 = floorTo(h2, DAY_MS);
  if (groupBy === 'hour' || d1 >= d2) {
    add('hourly', h1, h2);
  } else {
    add('hourly', h1, d1);
    add('daily', d1, d2);
    add('hourly', d2, h2);
  }
  add('raw', h2, t);
  return parts;
}

/** Whether the hourly rollups hold every hour from the one holding `from` on, for the cutoffs `c`. */
function hoursKeptSince(from: Date, c: UsageCutoffs): boolean {
  return c.hourly === null || floorTo(from.getTime(), HOUR_MS) >= c.hourly.getTime();
}

/** The range an aggregate over [from, to) counts (`UsageAggregate`) for the cutoffs `c`. */
function readableRangeOf(from: Date, to: Date, c: UsageCutoffs): { from: Date; to: Date } {
  const past = (t: number, cutoff: Date | null): boolean => cutoff !== null && t < cutoff.getTime();
  let f = from.getTime();
  // Raw rows read at the start: [from, next hour); hourly rows: [its hour, next day).
  if (past(f, c.raw)) {
    f = floorTo(f, HOUR_MS);
  }
  if (past(f, c.hourly)) {
    f = floorTo(f, DAY_MS);
  }
  let t = to.getTime();
  // Raw rows read at the end: [to's hour, to); hourly rows: [to's day, to's hour).
  if (past(floorTo(t, HOUR_MS), c.raw)) {
    t = ceilTo(t, HOUR_MS);
  }
  if (past(floorTo(t, DAY_MS), c.hourly)) {
    t = ceilTo(t, DAY_MS);
  }
  return { from: new Date(f), to: new Date(t) };
}

interface RawRow {
  key: string | Date | null;
  requests: string;
  successes: string;
  cache_hits: string;
  prompt: string | null;
  completion: string | null;
  cached: string | null;
  cost: string | null;
  saved: string | null;
  latency: string | null;
  buckets: (string | number)[] | null;
  failed_attempts: string | null;
  calls: string | null;
  failed_calls: string | null;
  client_closed: string | null;
}

/**
 * Usage aggregates over usage_records, answered from the rollups wherever they cover the range (ADR 0009): the
 * per-deployment ones unless the query filters or groups by user.
 */
export class UsageAnalyticsStore {
  constructor(
    private readonly dataSource: DataSource,
    /**
     * Where older rows may be gone: the edges the pruning recorded (UsageRetentionStore) in the api-gateway, so its
     * reads follow what the health-monitor deleted whatever USAGE_*RETENTION_DAYS each was given. Older edges of a
     * range are read from coarser rollups.
     */
    private readonly gone: UsageCutoffsSource = KEEP_ALL_CUTOFFS,
  ) {}

  /**
   * Every group of the range `aggregateWithRange` says it counted, ordered by key (NULL last). The edges and the rows are read in one
   * snapshot (REPEATABLE READ): the pruning records an edge before it deletes, so rows this reads are never ones a
   * prune running meanwhile removed.
   */
  async aggregate(query: AnalyticsQuery): Promise<UsageSumsGroup[]> {
    return (await this.aggregateWithRange(query)).groups;
  }

  /**
   * `aggregate`, with the range it covered: worked out from the edges of the same snapshot as the rows, so it is the
   * range counted even when a prune records new edges meanwhile (which edges read before it would not be).
   */
  async aggregateWithRange(query: AnalyticsQuery): Promise<UsageAggregate> {
    return this.snapshot((s) => s.aggregateWithRange(query));
  }

  /**
   * Runs `work` on one snapshot (one REPEATABLE READ, read-only transaction): the edges are read once, first, and
   * every `hasHoursSince` and aggregate it asks sees them and the same rows. For answers made of several aggregates
   * (or an aggregate and a choice of grain): a row inserted or pruned while they are read is in all of them or none.
   * The aggregates run one after another on the transaction's connection.
   */
  async snapshot<T>(work: (s: UsageSnapshot) => Promise<T>): Promise<T> {
    return this.withoutJit(async (em) => {
      const cutoffs = await this.gone.cutoffs(em);
      return work({
        hasHoursSince: (from) => hoursKeptSince(from, cutoffs),
        aggregateWithRange: (query) => this.aggregateIn(em, cutoffs, query),
      });
    });
  }

  private async aggregateIn(em: EntityManager, cutoffs: UsageCutoffs, query: AnalyticsQuery): Promise<UsageAggregate> {
    const range = readableRangeOf(query.from, query.to, cutoffs);
    const parts = planParts(range.from, range.to, query.groupBy);
    if (parts.length === 0) {
      return { ...range, groups: [] };
    }
    const params: unknown[] = [];
    const bind = (v: unknown): string => {
      params.push(v);
      return `$${params.length}`;
    };
    const latencies = query.latencies ?? true;
    const user = query.userId === undefined ? null : bind(query.userId);
    const allowed = allowedBinds(query.allowedModels, bind);
    // Neither filtered nor grouped by user: the per-deployment rollups hold the same sums in far fewer rows.
    const level = user === null && query.groupBy !== 'user' ? 'deployment' : 'user';
    const selects = parts.map((p) => this.partSql(p, query.groupBy, level, latencies, bind, user, allowed));
    // Parts group users by the uuid itself; the text form is made once per group here.
    const key = query.groupBy === 'user' ? 'parts.key::text' : 'parts.key';
    const buckets = latencies ? BUCKET_SUMS_SQL.replaceAll('latency_buckets', 'buckets') : 'NULL';
    const rows = await em.query<RawRow[]>(
      `SELECT ${key} AS key, sum(requests) AS requests, sum(successes) AS successes, sum(cache_hits) AS cache_hits,
              sum(prompt) AS prompt, sum(completion) AS completion, sum(cached) AS cached, sum(cost) AS cost,
              sum(saved) AS saved, sum(latency) AS latency, ${buckets} AS buckets,
              sum(failed_attempts) AS failed_attempts, sum(calls) AS calls, sum(failed_calls) AS failed_calls,
              sum(client_closed) AS client_closed
         FROM (${selects.join('\n UNION ALL \n')}) parts
        GROUP BY parts.key
        ORDER BY 1 NULLS LAST`,
      params,
    );
    const groups = rows.map((r) => this.groupOf(r, query.groupBy));
    // '' (no provider) sorted first in SQL; as null it goes last like the other keys' NULLs.
    return { ...range, groups: [...groups.filter((g) => g.key !== null), ...groups.filter((g) => g.key === null)] };
  }

  /**
   * Runs `work` in a transaction (one snapshot for all its reads) with JIT compilation off. These queries are wide (dozens of aggregates per
   * part) but read few rows: past jit_above_cost, compiling them took far longer than running them (a 60-day
   * per-user query over the bench's 5M records: ~0.1 s without JIT, ~0.5 s with it, ~3.9 s with LLVM's
   * optimisation; docs/benchmarks.md).
   */
  private async withoutJit<T>(work: (em: EntityManager) => Promise<T>): Promise<T> {
    return readSnapshot(this.dataSource, work, { jit: false });
  }

  private partSql(
    part: Part,
    groupBy: AnalyticsGroupBy,
    level: 'user' | 'deployment',
    latencies: boolean,
    bind: (v: unknown) => string,
    user: string | null,
    allowed: AllowedBinds | null,
  ): string {
    const from = bind(part.from);
    const to = bind(part.to);
    if (part.source === 'raw') {
      const table = tableRef(this.dataSource, UsageRecordEntity);
      const where =
        `created_at >= ${from} AND created_at < ${to}${user === null ? '' : ` AND user_id = ${user}`}` +
        allowedSql(allowed, RAW_PROVIDER_SQL, RAW_MODEL_SQL);
      const key = keySql(part, groupBy, 'created_at', RAW_PROVIDER_SQL, RAW_MODEL_SQL, bind);
      const rows = latencies
        ? `(SELECT *, ${RAW_BUCKET_SQL} AS wb FROM ${table} WHERE ${where}) r`
        : `${table} WHERE ${where}`;
      // As the rollups sum them (RAW_MEASURES_SQL): a failed attempt's row is no request.
      return `SELECT ${key} AS key, count(*) FILTER (WHERE attempt_of IS NULL) AS requests,
          count(*) FILTER (WHERE attempt_of IS NULL AND status = 'success') AS successes,
          count(*) FILTER (WHERE cached) AS cache_hits,
          sum(prompt_tokens) AS prompt, sum(completion_tokens) AS completion, sum(cached_tokens) AS cached,
          sum(cost_usd) AS cost, sum(cost_saved_usd) AS saved,
          sum(latency_ms) FILTER (WHERE attempt_of IS NULL) AS latency,
          ${latencies ? `${BUCKET_COUNTS_SQL}::bigint[]` : 'NULL::bigint[]'} AS buckets,
          count(*) FILTER (WHERE attempt_of IS NOT NULL) AS failed_attempts,
          count(*) FILTER (WHERE ${RAW_CALL_SQL}) AS calls,
          count(*) FILTER (WHERE ${RAW_CALL_SQL} AND status <> 'success') AS failed_calls,
          count(*) FILTER (WHERE ${RAW_CLIENT_CLOSED_SQL}) AS client_closed
        FROM ${rows}
        GROUP BY 1`;
    }
    const time = part.source === 'hourly' ? 'hour' : 'day';
    const entity = ROLLUPS[level][part.source];
    const where =
      `${time} >= ${from} AND ${time} < ${to}${user === null ? '' : ` AND user_id = ${user}`}` +
      allowedSql(allowed, 'provider', 'model');
    return `SELECT ${keySql(part, groupBy, time, 'provider', 'model', bind)} AS key, sum(requests) AS requests,
        sum(successes) AS successes, sum(cache_hits) AS cache_hits, sum(prompt_tokens) AS prompt,
        sum(completion_tokens) AS completion, sum(cached_tokens) AS cached, sum(cost_usd) AS cost,
        sum(cost_saved_usd) AS saved, sum(latency_sum_ms) AS latency,
        ${latencies ? `${BUCKET_SUMS_SQL}::bigint[]` : 'NULL::bigint[]'} AS buckets,
        sum(failed_attempts) AS failed_attempts, sum(calls) AS calls, sum(failed_calls) AS failed_calls,
        sum(client_closed) AS client_closed
      FROM ${tableRef(this.dataSource, entity)} WHERE ${where}
      GROUP BY 1`;
  }

  private groupOf(r: RawRow, groupBy: AnalyticsGroupBy): UsageSumsGroup {
    let key: string | null;
    if (r.key instanceof Date) {
      key = r.key.toISOString();
    } else if (groupBy === 'provider' && r.key === '') {
      key = null;
    } else {
      key = r.key;
    }
    return {
      key,
      requests: Number(r.requests),
      successes: Number(r.successes),
      cacheHits: Number(r.cache_hits),
      promptTokens: Number(r.prompt ?? 0),
      completionTokens: Number(r.completion ?? 0),
      cachedTokens: Number(r.cached ?? 0),
      costUsd: Number(r.cost ?? 0),
      costSavedUsd: Number(r.saved ?? 0),
      latencySumMs: Number(r.latency ?? 0),
      latencyBuckets: r.buckets === null ? emptyHistogram() : addHistogram(emptyHistogram(), r.buckets.map(Number)),
      failedAttempts: Number(r.failed_attempts ?? 0),
      calls: Number(r.calls ?? 0),
      failedCalls: Number(r.failed_calls ?? 0),
      clientClosed: Number(r.client_closed ?? 0),
    };
  }
}

/**
 * The bound parameters of an allow-list: every entry (compared as a model name and as a deployment id), and the
 * providers of its `provider/*` entries.
 */
interface AllowedBinds {
  names: string;
  providers: string;
}

function allowedBinds(
  allowed: readonly string[] | null | undefined,
  bind: (v: unknown) => string,
): AllowedBinds | null {
  if (allowed === null || allowed === undefined) {
    return null;
  }
  const providers = allowed.filter((e) => e.endsWith('/*')).map((e) => e.slice(0, -2));
  return { names: `${bind([...allowed])}::text[]`, providers: `${bind(providers)}::text[]` };
}

/**
 * The allow-list as a condition on a row's provider and model columns, as `mayUseDeployment` reads it: the model's
 * name, its deployment id or its provider's wildcard. A row no deployment answered (provider '') stands for the
 * model asked for: only its name is compared.
 */
function allowedSql(allowed: AllowedBinds | null, provider: string, model: string): string {
  if (allowed === null) {
    return '';
  }
  const deployment = `${provider} || '/' || ${model} = ANY(${allowed.names}) OR ${provider} = ANY(${allowed.providers})`;
  return ` AND (${model} = ANY(${allowed.names}) OR (${provider} <> '' AND (${deployment})))`;
}

/**
 * The group key of a part's rows; `time` is its timestamp column. A part that lies within one hour (day) has one
 * key for all its rows, bound as a constant; a rollup grouped by its own grain uses its time column as it is.
 * Either saves a date_trunc per row.
 */
function keySql(
  part: Part,
  groupBy: AnalyticsGroupBy,
  time: string,
  provider: string,
  model: string,
  bind: (v: unknown) => string,
): string {
  switch (groupBy) {
    case 'provider':
      return provider;
    case 'model':
      return model;
    case 'deployment':
      return `${provider} || '/' || ${model}`;
    case 'user':
      return 'user_id';
    case 'day':
    case 'hour': {
      const unit = groupBy === 'day' ? DAY_MS : HOUR_MS;
      const first = floorTo(part.from.getTime(), unit);
      // Part bounds are whole milliseconds and `to` is exclusive: no unit starts after to - 1 ms and before `to`.
      if (first === floorTo(part.to.getTime() - 1, unit)) {
        return `${bind(new Date(first))}::timestamptz`;
      }
      return GRAIN_MS[part.source] === unit ? time : `date_trunc('${groupBy}', ${time}, 'UTC')`;
    }
    case 'none':
      return 'NULL::text';
  }
}
