import type { MigrationInterface, QueryRunner } from 'typeorm';

// Frozen copy of the rollup measures and bucket count as of this migration (see UsageRollups1796000000000), in the
// column order the usage writer inserts them.
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
  "latency_buckets" integer array NOT NULL,
  "failed_attempts" integer NOT NULL DEFAULT 0,
  "calls" integer NOT NULL DEFAULT 0,
  "failed_calls" integer NOT NULL DEFAULT 0`;

const SUMS = `sum(requests), sum(successes), sum(cache_hits), sum(prompt_tokens), sum(completion_tokens),
  sum(cached_tokens), sum(cost_usd), sum(cost_saved_usd), sum(latency_sum_ms),
  ARRAY[${Array.from({ length: BUCKETS }, (_, i) => `sum("latency_buckets"[${i + 1}])`).join(', ')}]::int[],
  sum(failed_attempts), sum(calls), sum(failed_calls)`;

/**
 * Usage per UTC day and user (ADR 0009), all their keys and deployments together, backfilled from the per-user
 * daily rollup. From here on the usage writer keeps it in the statement that inserts the records.
 */
export class UsageUserDaily1796600000000 implements MigrationInterface {
  name = 'UsageUserDaily1796600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE "usage_user_daily" (
  "day" timestamptz NOT NULL,
  "user_id" uuid NOT NULL,${MEASURES},
  CONSTRAINT "pk_usage_user_daily" PRIMARY KEY ("day", "user_id"))`);
    await q.query(`CREATE INDEX "ix_usage_user_daily_user_day" ON "usage_user_daily" ("user_id", "day")`);
    // Writers wait while the sums are taken, so the table starts from the same records. A writer of an older
    // release knows nothing of this table: stop it before migrating, or its later batches are missing here.
    await q.query(`LOCK TABLE "usage_daily" IN SHARE MODE`);
    await q.query(`INSERT INTO "usage_user_daily" SELECT day, user_id, ${SUMS} FROM "usage_daily" GROUP BY 1, 2`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "usage_user_daily"`);
  }
}
