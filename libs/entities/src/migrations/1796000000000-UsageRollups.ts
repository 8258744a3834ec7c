import type { MigrationInterface, QueryRunner } from 'typeorm';

// Frozen copy of LATENCY_BUCKET_BOUNDS_MS as of this migration: the stored counts are by position.
const BOUNDS = `ARRAY[5,10,15,20,30,40,50,75,100,150,200,300,400,500,750,1000,1500,2000,3000,4000,5000,7500,10000,15000,20000,30000,40000,50000,75000,100000,150000,200000,300000]::int[]`;
const BUCKETS = 34;

const MEASURES = `
  "requests" integer NOT NULL,
  "successes" integer NOT NULL,
  "cache_hits" integer NOT NULL,
  "prompt_tokens" bigint NOT NULL,
  "completion_tokens" bigint NOT NULL,
  "cached_tokens" bigint NOT NULL,
  "cost_usd" numeric(20,9) NOT NULL,
  "cost_saved_usd" numeric(20,9) NOT NULL,
  "latency_sum_ms" bigint NOT NULL,
  "latency_buckets" integer array NOT NULL`;

function rollupTable(table: string, time: string): string {
  return `CREATE TABLE "${table}" (
  "${time}" timestamptz NOT NULL,
  "user_id" uuid NOT NULL,
  "api_key_id" uuid NOT NULL,
  "provider" text NOT NULL,
  "model" text NOT NULL,${MEASURES},
  CONSTRAINT "pk_${table}" PRIMARY KEY ("${time}", "user_id", "api_key_id", "provider", "model"))`;
}

const bucketCounts = Array.from({ length: BUCKETS }, (_, i) => `count(*) FILTER (WHERE wb = ${i})`).join(', ');
const bucketSums = Array.from({ length: BUCKETS }, (_, i) => `sum("latency_buckets"[${i + 1}])`).join(', ');

/**
 * Hourly and daily usage rollups (ADR 0009), backfilled from usage_records. From here on the usage writer
 * keeps them in the statement that inserts the records.
 */
export class UsageRollups1796000000000 implements MigrationInterface {
  name = 'UsageRollups1796000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(rollupTable('usage_hourly', 'hour'));
    await q.query(`CREATE INDEX "ix_usage_hourly_user_hour" ON "usage_hourly" ("user_id", "hour")`);
    await q.query(rollupTable('usage_daily', 'day'));
    await q.query(`CREATE INDEX "ix_usage_daily_user_day" ON "usage_daily" ("user_id", "day")`);
    await q.query(`INSERT INTO "usage_hourly"
      SELECT date_trunc('hour', created_at, 'UTC'), user_id, api_key_id, COALESCE(provider, ''),
             COALESCE(model, requested_model), count(*), count(*) FILTER (WHERE status = 'success'),
             count(*) FILTER (WHERE cached), sum(prompt_tokens), sum(completion_tokens), sum(cached_tokens),
             sum(cost_usd), sum(cost_saved_usd), sum(latency_ms), ARRAY[${bucketCounts}]::int[]
        FROM (SELECT *, width_bucket(latency_ms, ${BOUNDS}) AS wb FROM "usage_records") r
       GROUP BY 1, 2, 3, 4, 5`);
    await q.query(`INSERT INTO "usage_daily"
      SELECT date_trunc('day', hour, 'UTC'), user_id, api_key_id, provider, model, sum(requests), sum(successes),
             sum(cache_hits), sum(prompt_tokens), sum(completion_tokens), sum(cached_tokens), sum(cost_usd),
             sum(cost_saved_usd), sum(latency_sum_ms), ARRAY[${bucketSums}]::int[]
        FROM "usage_hourly"
       GROUP BY 1, 2, 3, 4, 5`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "usage_daily"`);
    await q.query(`DROP TABLE "usage_hourly"`);
  }
}
