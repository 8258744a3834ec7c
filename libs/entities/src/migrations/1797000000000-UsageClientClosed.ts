import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The rollups count the requests their client left (`client_closed`: error_code `client_closed_request`), which the
 * analytics show apart from the failures. Last in their column order, as the writer's measures list them. Backfilled
 * from the records still kept into the hourly per-user rollup, and from it into the three others: where the records
 * (or the hours) of a period were pruned already, its count is what is left of them (at worst 0, those requests
 * showing among the failures as before), never more than there were.
 */
const ROLLUPS = ['usage_hourly', 'usage_daily', 'usage_deployment_hourly', 'usage_deployment_daily'];

/** Sets `table`'s client_closed from `sums` (a subquery with the table's key columns and `client_closed`). */
function setClientClosed(table: string, keys: string[], sums: string): string {
  return `UPDATE "${table}" t SET "client_closed" = s.client_closed FROM (${sums}) s
   WHERE ${keys.map((k) => `t."${k}" = s."${k}"`).join(' AND ')}`;
}

/** The hourly per-user counts summed per `time` unit ('hour' or 'day'), with or without the user's key columns. */
function fromHourly(time: 'hour' | 'day', perUser: boolean): string {
  const keys = perUser ? 'user_id, api_key_id, provider, model' : 'provider, model';
  return `SELECT date_trunc('${time}', hour, 'UTC') AS "${time}", ${keys}, sum(client_closed) AS client_closed
    FROM "usage_hourly" WHERE client_closed > 0 GROUP BY 1, ${keys}`;
}

export class UsageClientClosed1797000000000 implements MigrationInterface {
  name = 'UsageClientClosed1797000000000';

  async up(q: QueryRunner): Promise<void> {
    for (const table of ROLLUPS) {
      await q.query(`ALTER TABLE "${table}" ADD COLUMN "client_closed" integer NOT NULL DEFAULT 0`);
    }
    const user = ['user_id', 'api_key_id', 'provider', 'model'];
    await q.query(
      setClientClosed(
        'usage_hourly',
        ['hour', ...user],
        `SELECT date_trunc('hour', created_at, 'UTC') AS hour, user_id, api_key_id, COALESCE(provider, '') AS provider,
            COALESCE(model, requested_model) AS model, count(*) AS client_closed
          FROM "usage_records" WHERE attempt_of IS NULL AND error_code = 'client_closed_request'
          GROUP BY 1, 2, 3, 4, 5`,
      ),
    );
    await q.query(setClientClosed('usage_daily', ['day', ...user], fromHourly('day', true)));
    await q.query(setClientClosed('usage_deployment_hourly', ['hour', 'provider', 'model'], fromHourly('hour', false)));
    await q.query(setClientClosed('usage_deployment_daily', ['day', 'provider', 'model'], fromHourly('day', false)));
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ROLLUPS) {
      await q.query(`ALTER TABLE "${table}" DROP COLUMN "client_closed"`);
    }
  }
}
