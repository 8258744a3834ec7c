import { ceilTo, DAY_MS, HOUR_MS, mayUseDeployment, roundUsd, type RoutingPolicy } from '@aigw/core';
import type { DataSource } from 'typeorm';
import { PreferenceUsageBatchEntity } from '../entities/preference-usage-batch.entity';
import { UserPreferenceEntity } from '../entities/user-preference.entity';
import { tableRef } from '../table-ref';
import { UsageAnalyticsStore } from './usage-analytics.store';

/** Days of usage_records a preference's `requests` and `costUsd` cover. */
export const PREFERENCE_STATS_DAYS = 30;

/** A stored preference with its usage: the counters the workers advance and the user's recent traffic to it. */
export interface PreferenceRecord {
  /** '' is the user's default. */
  context: string;
  provider: string | null;
  model: string;
  usageCount: number;
  lastUsedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
  /** The user's requests answered by this deployment over the last PREFERENCE_STATS_DAYS days, and their cost. */
  requests: number;
  costUsd: number;
}

/** A stored preference as routing reads it: the deployment it names and the policy it asks for. */
export interface PreferenceRoute {
  /** '' is the user's default. */
  context: string;
  provider: string | null;
  model: string;
  policy: RoutingPolicy | null;
}

/**
 * How long the id of a preference usage batch written is kept (preference_usage_batches): a batch retried within it
 * adds its counts once. A worker stops retrying a batch after PREFERENCE_USAGE_RETRY_MS, well within it.
 */
export const PREFERENCE_USAGE_BATCH_KEEP_MS = DAY_MS;
/** How long a worker retries a batch of preference uses it could not write; then it drops them (statistics). */
export const PREFERENCE_USAGE_RETRY_MS = 12 * HOUR_MS;

/** Uses of one preference counted by a worker since its last flush. */
export interface PreferenceUse {
  userId: string;
  context: string;
  /** The deployment the preference named when the worker read it, as preferenceRefOf renders it. */
  preferred: string;
  count: number;
  lastUsedAt: Date;
}

/**
 * How routing names the deployment a preference row points at: `provider/model`, or `model` alone when the
 * row has no provider. recordUses compares a row with the same rendering in SQL: change both together.
 */
export function preferenceRefOf(provider: string | null, model: string): string {
  return provider === null ? model : `${provider}/${model}`;
}

/**
 * May an API key with this allow-list (null: unrestricted) be shown a preference row? One naming a deployment: when
 * the list allows that deployment. A row without a provider (any deployment serving the model): when the list names
 * the model itself, for it may stand for deployments the key may not use. Lexical, as the list is.
 */
export function mayShowPreference(allowed: readonly string[] | null, provider: string | null, model: string): boolean {
  if (allowed === null) {
    return true;
  }
  return provider === null
    ? allowed.includes(model)
    : mayUseDeployment(allowed, { id: `${provider}/${model}`, provider: { id: provider }, model: { name: model } });
}

interface RecordRow {
  context: string;
  provider: string | null;
  model: string;
  usage_count: string;
  last_used_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

function recordOf(row: RecordRow): Omit<PreferenceRecord, 'requests' | 'costUsd'> {
  return {
    context: row.context,
    provider: row.provider,
    model: row.model,
    usageCount: Number(row.usage_count),
    lastUsedAt: row.last_used_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/**
 * A preference's statistics from the user's usage per deployment (`recentUsage`): its deployment's, or, for a row
 * without a provider, those of every deployment serving a model of that name (never a request none answered).
 */
function statsOf(
  usage: Map<string, { requests: number; costUsd: number }>,
  provider: string | null,
  model: string,
): { requests: number; costUsd: number } {
  if (provider !== null) {
    return usage.get(`${provider}/${model}`) ?? { requests: 0, costUsd: 0 };
  }
  let requests = 0;
  let costUsd = 0;
  for (const [key, sums] of usage) {
    const slash = key.indexOf('/');
    if (slash > 0 && key.slice(slash + 1) === model) {
      requests += sums.requests;
      costUsd += sums.costUsd;
    }
  }
  return { requests, costUsd: roundUsd(costUsd) };
}

/** `user_preferences`: what the preferences API writes and the workers' usage counters. */
export class PreferenceStore {
  private readonly analytics: UsageAnalyticsStore;

  constructor(private readonly dataSource: DataSource) {
    this.analytics = new UsageAnalyticsStore(dataSource);
  }

  private get prefs(): string {
    return tableRef(this.dataSource, UserPreferenceEntity);
  }

  private get batches(): string {
    return tableRef(this.dataSource, PreferenceUsageBatchEntity);
  }

  /**
   * The user's preferences with their statistics. The statistics come from the usage rollups (ADR 0009), one
   * aggregate of the user's last PREFERENCE_STATS_DAYS days per deployment for every preference: a scan of
   * usage_records per preference read every record of the 30 days (all users', through the created_at index),
   * 0.16 s per preference at 3 million records a year and growing with the traffic. `requests` are the ones the
   * deployment answered (a request that failed on it was not); the cost is all the user paid it (a stream cut
   * midway too).
   */
  async list(
    userId: string,
    context?: string,
    allowedModels: readonly string[] | null = null,
  ): Promise<PreferenceRecord[]> {
    const all = await this.dataSource.query<RecordRow[]>(
      `SELECT p.context, p.provider, p.model, p.usage_count, p.last_used_at, p.created_at, p.updated_at
         FROM ${this.prefs} p
        WHERE p.user_id = $1 AND ($2::text IS NULL OR p.context = $2)
        ORDER BY p.context`,
      [userId, context ?? null],
    );
    // `allowedModels`: a restricted key is shown the rows it may see, with statistics of the deployments it may use.
    const rows = all.filter((r) => mayShowPreference(allowedModels, r.provider, r.model));
    if (rows.length === 0) {
      return [];
    }
    const usage = await this.recentUsage(userId, allowedModels);
    return rows.map((row) => ({ ...recordOf(row), ...statsOf(usage, row.provider, row.model) }));
  }

  /**
   * The user's answered requests and cost per deployment (`provider/model`) since PREFERENCE_STATS_DAYS days ago.
   * The range ends at the end of the current hour, so the current hour is read from the hourly rollup, not the
   * records.
   */
  private async recentUsage(
    userId: string,
    allowedModels: readonly string[] | null,
  ): Promise<Map<string, { requests: number; costUsd: number }>> {
    const now = Date.now();
    const groups = await this.analytics.aggregate({
      from: new Date(now - PREFERENCE_STATS_DAYS * DAY_MS),
      to: new Date(ceilTo(now, HOUR_MS)),
      groupBy: 'deployment',
      userId,
      allowedModels,
      latencies: false,
    });
    return new Map(groups.map((g) => [g.key ?? '', { requests: g.successes, costUsd: g.costUsd }]));
  }

  /** The user's preferences as routing reads them, without statistics: one read of the primary key's range. */
  async routes(userId: string): Promise<PreferenceRoute[]> {
    const rows = await this.dataSource.getRepository(UserPreferenceEntity).find({
      select: { context: true, provider: true, model: true, policy: true },
      where: { userId },
    });
    return rows.map((r) => ({ context: r.context, provider: r.provider, model: r.model, policy: r.policy }));
  }

  /**
   * One row per user and context. Pointing a context at another deployment starts its counters afresh;
   * storing the same one again keeps them. A `policy` set on the row earlier is kept. `allowedModels`: written by a
   * key restricted to them, which re-pointing starts afresh, `createdAt` too (the row it replaced may be one it was
   * never shown), and which is answered as `list` shows it.
   */
  async upsert(
    userId: string,
    pref: { context: string; provider: string; model: string },
    allowedModels: readonly string[] | null = null,
  ): Promise<PreferenceRecord> {
    const same = 'p.provider IS NOT DISTINCT FROM EXCLUDED.provider AND p.model = EXCLUDED.model';
    await this.dataSource.query(
      `INSERT INTO ${this.prefs} AS p (user_id, context, provider, model)
       VALUES ($1, $2, $3, $4)
       ON CONFLICT (user_id, context) DO UPDATE
          SET provider = EXCLUDED.provider,
              model = EXCLUDED.model,
              usage_count = CASE WHEN ${same} THEN p.usage_count ELSE 0 END,
              last_used_at = CASE WHEN ${same} THEN p.last_used_at ELSE NULL END,
              created_at = CASE WHEN $5 AND NOT (${same}) THEN now() ELSE p.created_at END,
              updated_at = now()`,
      [userId, pref.context, pref.provider, pref.model, allowedModels !== null],
    );
    const [stored] = await this.list(userId, pref.context, allowedModels);
    return stored;
  }

  /** False when the user has no preference for `context`. */
  async remove(userId: string, context: string): Promise<boolean> {
    const result = await this.dataSource
      .createQueryBuilder()
      .delete()
      .from(UserPreferenceEntity)
      .where('user_id = :userId AND context = :context', { userId, context })
      .execute();
    return (result.affected ?? 0) > 0;
  }

  /**
   * Adds the counted uses of batch `batchId` in one statement, each to the row that still points at the deployment it
   * was counted for. A preference deleted or re-pointed meanwhile matches nothing: a worker routes by its cached
   * copy for up to 10 s after a change, and those requests are not uses of the new preference. The same statement
   * records the batch id (preference_usage_batches) and adds the counts only if it was not there: a batch written
   * again, as a worker retries one whose reply was lost after PostgreSQL had committed it, adds nothing. Returns
   * false then. Ledger rows past PREFERENCE_USAGE_BATCH_KEEP_MS go with it, a few at a time, skipping rows another
   * writer is deleting (no wait between workers).
   *
   * The rows are locked first in one order, their primary key's (`locked`), and the UPDATE touches only rows it
   * joined with that: locked in each batch's own order, two workers' batches naming the same rows in opposite orders
   * could each hold one and wait for the other, and PostgreSQL aborted one as a deadlock after holding both a second.
   */
  async recordUses(uses: readonly PreferenceUse[], batchId: string): Promise<boolean> {
    if (uses.length === 0) {
      return true;
    }
    const rows = await this.dataSource.query<{ applied: boolean }[]>(
      `WITH claimed AS (
         INSERT INTO ${this.batches} (batch_id) VALUES ($6) ON CONFLICT (batch_id) DO NOTHING RETURNING batch_id
       ), pruned AS (
         DELETE FROM ${this.batches}
          WHERE batch_id IN (SELECT batch_id FROM ${this.batches}
                              WHERE written_at < now() - make_interval(secs => $7)
                              ORDER BY written_at LIMIT 100 FOR UPDATE SKIP LOCKED)
       ), locked AS MATERIALIZED (
         SELECT p.user_id, p.context
           FROM ${this.prefs} AS p
          WHERE EXISTS (SELECT 1 FROM claimed)
            AND (p.user_id, p.context) IN (SELECT * FROM unnest($1::uuid[], $2::text[]))
          ORDER BY p.user_id, p.context
            FOR NO KEY UPDATE OF p
       ), counted AS (
         UPDATE ${this.prefs} AS p
            SET usage_count = p.usage_count + v.n,
                last_used_at = GREATEST(p.last_used_at, v.t)
           FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bigint[], $5::timestamptz[])
                AS v(user_id, context, preferred, n, t),
                locked AS l
          WHERE l.user_id = p.user_id AND l.context = p.context
            AND p.user_id = v.user_id AND p.context = v.context
            AND CASE WHEN p.provider IS NULL THEN p.model ELSE p.provider || '/' || p.model END = v.preferred
       )
       SELECT EXISTS (SELECT 1 FROM claimed) AS applied`,
      [
        uses.map((u) => u.userId),
        uses.map((u) => u.context),
        uses.map((u) => u.preferred),
        uses.map((u) => u.count),
        uses.map((u) => u.lastUsedAt.toISOString()),
        batchId,
        PREFERENCE_USAGE_BATCH_KEEP_MS / 1000,
      ],
    );
    return rows[0].applied;
  }
}
