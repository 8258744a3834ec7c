import { CLIENT_CLOSED_REQUEST, LATENCY_BUCKET_BOUNDS_MS, LATENCY_BUCKET_COUNT } from '@aigw/core';

/*
 * SQL shared by the writer and the readers of the usage rollups (ADR 0009). Fixed strings built from constants,
 * never from input.
 */

/** The latency bucket bounds as a PostgreSQL array literal, for width_bucket(). */
export const BOUNDS_SQL = `ARRAY[${LATENCY_BUCKET_BOUNDS_MS.join(',')}]::int[]`;

const positions = Array.from({ length: LATENCY_BUCKET_COUNT }, (_, i) => i);

/** Per-bucket counts of raw rows that carry `wb` = width_bucket(latency_ms, BOUNDS_SQL). */
export const BUCKET_COUNTS_SQL = `ARRAY[${positions.map((i) => `count(*) FILTER (WHERE wb = ${i})`).join(', ')}]`;

/** Per-bucket sums of rollup rows. */
export const BUCKET_SUMS_SQL = `ARRAY[${positions.map((i) => `sum(latency_buckets[${i + 1}])`).join(', ')}]`;

/** `t.latency_buckets + EXCLUDED.latency_buckets`, element-wise, for an upsert into a table aliased `t`. */
export const BUCKET_ADD_SQL = `ARRAY[${positions
  .map((i) => `t.latency_buckets[${i + 1}] + EXCLUDED.latency_buckets[${i + 1}]`)
  .join(', ')}]`;

/** The rollup key of a usage_records row: no deployment answered → provider '', model the requested one. */
export const RAW_PROVIDER_SQL = `COALESCE(provider, '')`;
export const RAW_MODEL_SQL = `COALESCE(model, requested_model)`;

/**
 * `wb` of a usage_records row: its latency bucket, none for the row of a failed attempt (`attempt_of` set), whose
 * latency is no request's.
 */
export const RAW_BUCKET_SQL = `CASE WHEN attempt_of IS NULL THEN width_bucket(latency_ms, ${BOUNDS_SQL}) END`;

/**
 * A usage_records row that stands for a provider call of its own: a request a deployment answered or failed, or a
 * failed attempt's row. Not a response-cache hit nor a coalesced follower (`attempts` 0: its leader's row counts the
 * call), nor a request its client left (`client_closed_request`: it says nothing of the provider), as
 * DeploymentStatsStore counts them.
 */
export const RAW_CALL_SQL = `attempts > 0 AND NOT cached AND error_code IS DISTINCT FROM '${CLIENT_CLOSED_REQUEST}'`;

/**
 * The most a rollup's cost columns (numeric(20,9)) hold. A record's cost is bounded by its own column (numeric(18,9),
 * UsageStore), but a rollup row sums an hour or a day of them: a provider reporting absurd counts made a deployment's
 * daily sum pass the column by its 101st request, and from then on every batch holding that deployment's usage of
 * the day failed, with every job batched with it. The sum stops at the bound instead (no real spend comes near it;
 * the raw records keep each cost as it was).
 */
const ROLLUP_USD_MAX = '99999999999.999999999';

/** `sum`, a numeric SQL expression, held within a rollup cost column. */
function rollupUsd(sum: string): string {
  return `LEAST(GREATEST(${sum}, -${ROLLUP_USD_MAX}), ${ROLLUP_USD_MAX})`;
}

/** The rollup columns holding USD (bounded by `rollupUsd`). */
const USD_COLUMNS: ReadonlySet<string> = new Set(['cost_usd', 'cost_saved_usd']);

/** A request's own row (not a failed attempt's) whose client left: neither a success nor a failure. */
export const RAW_CLIENT_CLOSED_SQL = `attempt_of IS NULL AND error_code = '${CLIENT_CLOSED_REQUEST}'`;

/**
 * What a rollup row sums, from usage_records rows carrying `wb` (RAW_BUCKET_SQL), in rollup column order. Requests,
 * successes and latencies are the requests' own rows; a failed attempt's row counts in `failed_attempts` (it costs
 * nothing and carries no tokens, unless its provider charged for it: then in those sums too), and among the provider
 * calls (`calls`, `failed_calls`). Last, the requests their client left (`client_closed`).
 */
export const RAW_MEASURES_SQL = `count(*) FILTER (WHERE attempt_of IS NULL),
  count(*) FILTER (WHERE attempt_of IS NULL AND status = 'success'), count(*) FILTER (WHERE cached),
  sum(prompt_tokens), sum(completion_tokens), sum(cached_tokens), ${rollupUsd('sum(cost_usd)')},
  ${rollupUsd('sum(cost_saved_usd)')},
  COALESCE(sum(latency_ms) FILTER (WHERE attempt_of IS NULL), 0), ${BUCKET_COUNTS_SQL}::int[],
  count(*) FILTER (WHERE attempt_of IS NOT NULL), count(*) FILTER (WHERE ${RAW_CALL_SQL}),
  count(*) FILTER (WHERE ${RAW_CALL_SQL} AND status <> 'success'), count(*) FILTER (WHERE ${RAW_CLIENT_CLOSED_SQL})`;

export const MEASURE_COLUMNS = [
  'requests',
  'successes',
  'cache_hits',
  'prompt_tokens',
  'completion_tokens',
  'cached_tokens',
  'cost_usd',
  'cost_saved_usd',
  'latency_sum_ms',
  'failed_attempts',
  'calls',
  'failed_calls',
  'client_closed',
] as const;

/** `ON CONFLICT` update adding the new sums to the stored ones. */
export const ADD_MEASURES_SQL = [
  ...MEASURE_COLUMNS.map((c) =>
    USD_COLUMNS.has(c) ? `${c} = ${rollupUsd(`t.${c} + EXCLUDED.${c}`)}` : `${c} = t.${c} + EXCLUDED.${c}`,
  ),
  `latency_buckets = ${BUCKET_ADD_SQL}::int[]`,
].join(', ');
