import type { UsageEvent } from '@aigw/core';
import type { DataSource } from 'typeorm';
import { UsageRecordEntity } from '../entities/usage-record.entity';
import {
  UsageDailyEntity,
  UsageDeploymentDailyEntity,
  UsageDeploymentHourlyEntity,
  UsageHourlyEntity,
} from '../entities/usage-rollup.entity';
import { tableRef } from '../table-ref';
import {
  ADD_MEASURES_SQL,
  RAW_BUCKET_SQL,
  RAW_MEASURES_SQL,
  RAW_MODEL_SQL,
  RAW_PROVIDER_SQL,
} from './usage-rollup-sql';

/**
 * The counts a provider reports go into `integer` columns and the costs made from them into numeric(18,9): a value
 * past a column's range (a broken or hostile OpenAI-compatible server reporting 3 billion prompt tokens) failed the
 * whole statement, so the event's job and every job batched with it failed and were retried for hours, and that
 * job's events were never recorded. Such a value is stored as the nearest one the column holds: the record is
 * written, with counts no real request reaches.
 */
const INT_MAX = 2_147_483_647;
const USD_MAX = 999_999_999;

function int(v: number): number {
  return Math.min(INT_MAX, Math.max(-INT_MAX - 1, Math.round(v)));
}

function usd(v: number): number {
  return Math.min(USD_MAX, Math.max(-USD_MAX, v));
}

/** A usage_records row: a request's event, or one of its failed provider attempts (`attemptOf` its request id). */
type UsageRow = UsageEvent & { attemptOf?: string };

// Column, SQL array type and value of one row, in insert order.
const COLUMNS: [string, string, (e: UsageRow) => unknown][] = [
  ['request_id', 'text', (e) => e.requestId],
  ['user_id', 'uuid', (e) => e.userId],
  ['api_key_id', 'uuid', (e) => e.apiKeyId],
  ['requested_model', 'text', (e) => e.requestedModel],
  ['provider', 'text', (e) => e.provider],
  ['model', 'text', (e) => e.model],
  ['context', 'text', (e) => e.context],
  ['prompt_tokens', 'int', (e) => int(e.promptTokens)],
  ['completion_tokens', 'int', (e) => int(e.completionTokens)],
  ['cached_tokens', 'int', (e) => int(e.cachedTokens)],
  ['cost_usd', 'numeric', (e) => usd(e.costUsd)],
  ['cost_saved_usd', 'numeric', (e) => usd(e.costSavedUsd ?? 0)],
  ['latency_ms', 'int', (e) => int(e.latencyMs)],
  ['provider_latency_ms', 'int', (e) => (e.providerLatencyMs === undefined ? null : int(e.providerLatencyMs))],
  ['cached', 'bool', (e) => e.cached],
  ['status', 'text', (e) => e.status],
  ['error_class', 'text', (e) => e.errorClass],
  ['error_code', 'text', (e) => e.errorCode],
  ['attempts', 'int', (e) => int(e.attempts)],
  ['policy', 'text', (e) => e.policy],
  ['stream', 'bool', (e) => e.stream],
  ['created_at', 'timestamptz', (e) => e.createdAt],
  ['attempt_of', 'text', (e) => e.attemptOf ?? null],
];

/**
 * The rows of a batch: each event, then a row per failed attempt it carries. An attempt's request id is derived from
 * its request's, so a redelivered event skips its attempts as it skips itself. A failed call is not billed (no
 * tokens, no cost), unless its provider charged for it all the same (`FailedAttempt.charged`).
 */
function rowsOf(events: UsageEvent[]): UsageRow[] {
  const rows: UsageRow[] = [];
  for (const e of events) {
    rows.push(e);
    e.failedAttempts?.forEach((a, i) => {
      rows.push({
        ...e,
        requestId: `${e.requestId}#${i + 1}`,
        attemptOf: e.requestId,
        provider: a.provider,
        model: a.model,
        promptTokens: a.charged?.promptTokens ?? 0,
        completionTokens: a.charged?.completionTokens ?? 0,
        cachedTokens: a.charged?.cachedTokens ?? 0,
        costUsd: a.charged?.costUsd ?? 0,
        costSavedUsd: 0,
        latencyMs: a.latencyMs,
        providerLatencyMs: undefined,
        cached: false,
        status: 'error',
        errorClass: a.errorClass,
        errorCode: null,
        attempts: 1,
        failedAttempts: undefined,
      });
    });
  }
  return rows;
}

/** Adds the rows of `source` to a rollup table, per `unit` ('hour' or 'day') of created_at in UTC. */
function rollupUpsert(
  table: string,
  pk: string,
  unit: 'hour' | 'day',
  level: 'user' | 'deployment',
  source: string,
): string {
  const key =
    level === 'user'
      ? `date_trunc('${unit}', created_at, 'UTC'), user_id, api_key_id, ${RAW_PROVIDER_SQL}, ${RAW_MODEL_SQL}`
      : `date_trunc('${unit}', created_at, 'UTC'), ${RAW_PROVIDER_SQL}, ${RAW_MODEL_SQL}`;
  const columns = level === 'user' ? '1, 2, 3, 4, 5' : '1, 2, 3';
  // ORDER BY: concurrent writers lock rollup rows in one order, which keeps them from deadlocking.
  return `INSERT INTO ${table} AS t
    SELECT ${key}, ${RAW_MEASURES_SQL}
      FROM ${source}
     GROUP BY ${columns}
     ORDER BY ${columns}
    ON CONFLICT ON CONSTRAINT ${pk} DO UPDATE SET ${ADD_MEASURES_SQL}`;
}

export class UsageStore {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * Inserts a batch in ONE statement; request ids already recorded (a redelivered job) are skipped. The same
   * statement adds exactly the rows it inserted to the four rollups (hourly and daily, per user and per deployment), so a rollup never counts a
   * record twice nor misses one. One array parameter per column (unnest), so the batch size never meets
   * PostgreSQL's 65535-parameter limit. The rows of failed attempts (`rowsOf`) are inserted with their requests and
   * count in the rollups' `failed_attempts` only: their requests are client requests. Returns how many requests'
   * rows were inserted.
   */
  async insertBatch(events: UsageEvent[]): Promise<number> {
    if (events.length === 0) {
      return 0;
    }
    const records = rowsOf(events);
    const columns = COLUMNS.map(([name]) => `"${name}"`).join(', ');
    const arrays = COLUMNS.map(([, type], i) => `$${i + 1}::${type}[]`).join(', ');
    const params = COLUMNS.map(([, , value]) => records.map(value));
    const rows = await this.dataSource.query<{ inserted: number }[]>(
      `WITH inserted AS (
         INSERT INTO ${tableRef(this.dataSource, UsageRecordEntity)} (${columns})
         SELECT * FROM unnest(${arrays})
         ON CONFLICT (request_id) DO NOTHING
         RETURNING *
       ), bucketed AS (
         SELECT *, ${RAW_BUCKET_SQL} AS wb FROM inserted
       ), hourly AS (
         ${rollupUpsert(tableRef(this.dataSource, UsageHourlyEntity), 'pk_usage_hourly', 'hour', 'user', 'bucketed')}
       ), daily AS (
         ${rollupUpsert(tableRef(this.dataSource, UsageDailyEntity), 'pk_usage_daily', 'day', 'user', 'bucketed')}
       ), deployment_hourly AS (
         ${rollupUpsert(tableRef(this.dataSource, UsageDeploymentHourlyEntity), 'pk_usage_deployment_hourly', 'hour', 'deployment', 'bucketed')}
       ), deployment_daily AS (
         ${rollupUpsert(tableRef(this.dataSource, UsageDeploymentDailyEntity), 'pk_usage_deployment_daily', 'day', 'deployment', 'bucketed')}
       )
       SELECT count(*)::int AS inserted FROM inserted WHERE attempt_of IS NULL`,
      params,
    );
    return rows[0].inserted;
  }
}
