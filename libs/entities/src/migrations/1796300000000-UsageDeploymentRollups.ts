import type { MigrationInterface, QueryRunner } from 'typeorm';

// Frozen copy of the rollup measures and bucket count as of this migration (see UsageRollups1796000000000).
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

const SUMS = `sum(requests), sum(successes), sum(cache_hits), sum(prompt_tokens), sum(completion_tokens),
  sum(cached_tokens), sum(cost_usd), sum(cost_saved_usd), sum(latency_sum_ms),
  ARRAY[${Array.from({ length: BUCKETS }, (_, i) => `sum("latency_buckets"[${i + 1}])`).join(', ')}]::int[]`;

function table(name: string, time: string): string {
  return `CREATE TABLE "${name}" (
  "${time}" timestamptz NOT NULL,
  "provider" text NOT NULL,
  "model" text NOT NULL,${MEASURES},
  CONSTRAINT "pk_${name}" PRIMARY KEY ("${time}", "provider", "model"))`;
}

/**
 * Usage rollups per deployment (ADR 0009): the hourly and daily sums of all users and keys together, backfilled
 * from the per-user rollups. From here on the usage writer keeps them in the statement that inserts the records.
 */
export class UsageDeploymentRollups1796300000000 implements MigrationInterface {
  name = 'UsageDeploymentRollups1796300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(table('usage_deployment_hourly', 'hour'));
    await q.query(table('usage_deployment_daily', 'day'));
    // Writers wait while the sums are taken, so both tables start from the same records. A writer of an older
    // release knows nothing of these tables: stop it before migrating, or its later batches are missing here.
    await q.query(`LOCK TABLE "usage_hourly", "usage_daily" IN SHARE MODE`);
    await q.query(`INSERT INTO "usage_deployment_hourly"
      SELECT hour, provider, model, ${SUMS} FROM "usage_hourly" GROUP BY 1, 2, 3`);
    await q.query(`INSERT INTO "usage_deployment_daily"
      SELECT day, provider, model, ${SUMS} FROM "usage_daily" GROUP BY 1, 2, 3`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "usage_deployment_daily"`);
    await q.query(`DROP TABLE "usage_deployment_hourly"`);
  }
}
