import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Failed provider attempts of a request answered (or failed) on another deployment get rows of their own, linked to
 * their request by `attempt_of`; the request's own row keeps it null. Existing rows are requests. The rollups count
 * those rows apart (`failed_attempts`), last in their column order as the writer's measures list them, then the
 * provider calls (`calls`, `failed_calls`: rows with a call of their own), backfilled from the records (no attempt
 * rows yet) into the hourly per-user rollup, and from it into the three others.
 */
const ROLLUPS = ['usage_hourly', 'usage_daily', 'usage_deployment_hourly', 'usage_deployment_daily'];

/** Frozen copy of the calls' definition as of this migration (RAW_CALL_SQL). */
const CALL = `attempts > 0 AND NOT cached AND error_code IS DISTINCT FROM 'client_closed_request'`;

/** Sets `table`'s calls from `sums` (a subquery with the table's key columns, `calls` and `failed_calls`). */
function setCalls(table: string, keys: string[], sums: string): string {
  return `UPDATE "${table}" t SET "calls" = s.calls, "failed_calls" = s.failed_calls FROM (${sums}) s
   WHERE ${keys.map((k) => `t."${k}" = s."${k}"`).join(' AND ')}`;
}

/** The hourly per-user calls summed per `time` unit ('hour' or 'day'), with or without the user's key columns. */
function fromHourly(time: 'hour' | 'day', perUser: boolean): string {
  const keys = perUser ? 'user_id, api_key_id, provider, model' : 'provider, model';
  return `SELECT date_trunc('${time}', hour, 'UTC') AS "${time}", ${keys}, sum(calls) AS calls,
      sum(failed_calls) AS failed_calls
    FROM "usage_hourly" GROUP BY 1, ${keys}`;
}

export class UsageAttempts1796500000000 implements MigrationInterface {
  name = 'UsageAttempts1796500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "usage_records" ADD COLUMN "attempt_of" text`);
    for (const table of ROLLUPS) {
      await q.query(`ALTER TABLE "${table}" ADD COLUMN "failed_attempts" integer NOT NULL DEFAULT 0`);
      await q.query(`ALTER TABLE "${table}" ADD COLUMN "calls" integer NOT NULL DEFAULT 0`);
      await q.query(`ALTER TABLE "${table}" ADD COLUMN "failed_calls" integer NOT NULL DEFAULT 0`);
    }
    const user = ['user_id', 'api_key_id', 'provider', 'model'];
    await q.query(
      setCalls(
        'usage_hourly',
        ['hour', ...user],
        `SELECT date_trunc('hour', created_at, 'UTC') AS hour, user_id, api_key_id, COALESCE(provider, '') AS provider,
            COALESCE(model, requested_model) AS model, count(*) FILTER (WHERE ${CALL}) AS calls,
            count(*) FILTER (WHERE ${CALL} AND status <> 'success') AS failed_calls
          FROM "usage_records" GROUP BY 1, 2, 3, 4, 5`,
      ),
    );
    await q.query(setCalls('usage_daily', ['day', ...user], fromHourly('day', true)));
    await q.query(setCalls('usage_deployment_hourly', ['hour', 'provider', 'model'], fromHourly('hour', false)));
    await q.query(setCalls('usage_deployment_daily', ['day', 'provider', 'model'], fromHourly('day', false)));
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ROLLUPS) {
      await q.query(`ALTER TABLE "${table}" DROP COLUMN "failed_calls"`);
      await q.query(`ALTER TABLE "${table}" DROP COLUMN "calls"`);
      await q.query(`ALTER TABLE "${table}" DROP COLUMN "failed_attempts"`);
    }
    await q.query(`DELETE FROM "usage_records" WHERE "attempt_of" IS NOT NULL`);
    await q.query(`ALTER TABLE "usage_records" DROP COLUMN "attempt_of"`);
  }
}
