import type { RoutingPolicy } from '@aigw/core';
import type { DataSource } from 'typeorm';
import { UsageRecordEntity } from '../entities/usage-record.entity';
import { UserPreferenceEntity } from '../entities/user-preference.entity';
import { tableRef } from '../table-ref';

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

interface RecordRow {
  context: string;
  provider: string | null;
  model: string;
  usage_count: string;
  last_used_at: Date | null;
  created_at: Date;
  updated_at: Date;
  requests: string;
  cost_usd: string;
}

function recordOf(row: RecordRow): PreferenceRecord {
  return {
    context: row.context,
    provider: row.provider,
    model: row.model,
    usageCount: Number(row.usage_count),
    lastUsedAt: row.last_used_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    requests: Number(row.requests),
    costUsd: Number(row.cost_usd),
  };
}

/** `user_preferences`: what the preferences API writes and the workers' usage counters. */
export class PreferenceStore {
  constructor(private readonly dataSource: DataSource) {}

  private get prefs(): string {
    return tableRef(this.dataSource, UserPreferenceEntity);
  }

  private get usage(): string {
    return tableRef(this.dataSource, UsageRecordEntity);
  }

  /**
   * The user's preferences with their statistics, in one query: the lateral join reads the user's recent
   * usage_records through (user_id, created_at), once per preference row. `requests` are the ones the deployment
   * answered (a request that failed on it was not); the cost is all the user paid it (a stream cut midway too).
   */
  async list(userId: string, context?: string): Promise<PreferenceRecord[]> {
    const rows = await this.dataSource.query<RecordRow[]>(
      `SELECT p.context, p.provider, p.model, p.usage_count, p.last_used_at, p.created_at, p.updated_at,
              s.requests, s.cost_usd
         FROM ${this.prefs} p
         CROSS JOIN LATERAL (
           SELECT count(*) FILTER (WHERE u.status = 'success') AS requests, COALESCE(sum(u.cost_usd), 0) AS cost_usd
             FROM ${this.usage} u
            WHERE u.user_id = p.user_id
              AND u.created_at >= now() - make_interval(days => $2)
              AND u.model = p.model
              AND (p.provider IS NULL OR u.provider = p.provider)
         ) s
        WHERE p.user_id = $1 AND ($3::text IS NULL OR p.context = $3)
        ORDER BY p.context`,
      [userId, PREFERENCE_STATS_DAYS, context ?? null],
    );
    return rows.map(recordOf);
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
   * storing the same one again keeps them. A `policy` set on the row earlier is kept.
   */
  async upsert(userId: string, pref: { context: string; provider: string; model: string }): Promise<PreferenceRecord> {
    await this.dataSource.query(
      `INSERT INTO ${this.prefs} AS p (user_id, context, provider, model)
       VALUES ($1, $2, $3, $4)
       ON CONFLICT (user_id, context) DO UPDATE
          SET provider = EXCLUDED.provider,
              model = EXCLUDED.model,
              usage_count = CASE WHEN p.provider IS NOT DISTINCT FROM EXCLUDED.provider AND p.model = EXCLUDED.model
                                 THEN p.usage_count ELSE 0 END,
              last_used_at = CASE WHEN p.provider IS NOT DISTINCT FROM EXCLUDED.provider AND p.model = EXCLUDED.model
                                  THEN p.last_used_at ELSE NULL END,
              updated_at = now()`,
      [userId, pref.context, pref.provider, pref.model],
    );
    const [stored] = await this.list(userId, pref.context);
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
   * Adds the counted uses in one statement, each to the row that still points at the deployment it was
   * counted for. A preference deleted or re-pointed meanwhile matches nothing: a worker routes by its cached
   * copy for up to 10 s after a change, and those requests are not uses of the new preference.
   */
  async recordUses(uses: readonly PreferenceUse[]): Promise<void> {
    if (uses.length === 0) {
      return;
    }
    await this.dataSource.query(
      `UPDATE ${this.prefs} AS p
          SET usage_count = p.usage_count + v.n,
              last_used_at = GREATEST(p.last_used_at, v.t)
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bigint[], $5::timestamptz[])
              AS v(user_id, context, preferred, n, t)
        WHERE p.user_id = v.user_id AND p.context = v.context
          AND CASE WHEN p.provider IS NULL THEN p.model ELSE p.provider || '/' || p.model END = v.preferred`,
      [
        uses.map((u) => u.userId),
        uses.map((u) => u.context),
        uses.map((u) => u.preferred),
        uses.map((u) => u.count),
        uses.map((u) => u.lastUsedAt.toISOString()),
      ],
    );
  }
}
