import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Failed provider attempts of a request answered (or failed) on another deployment get rows of their own, linked to
 * their request by `attempt_of`; the request's own row keeps it null. Existing rows are requests. The rollups count
 * those rows apart (`failed_attempts`), last in their column order as the writer's measures list them.
 */
const ROLLUPS = ['usage_hourly', 'usage_daily', 'usage_deployment_hourly', 'usage_deployment_daily'];

export class UsageAttempts1796500000000 implements MigrationInterface {
  name = 'UsageAttempts1796500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "usage_records" ADD COLUMN "attempt_of" text`);
    for (const table of ROLLUPS) {
      await q.query(`ALTER TABLE "${table}" ADD COLUMN "failed_attempts" integer NOT NULL DEFAULT 0`);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ROLLUPS) {
      await q.query(`ALTER TABLE "${table}" DROP COLUMN "failed_attempts"`);
    }
    await q.query(`DELETE FROM "usage_records" WHERE "attempt_of" IS NOT NULL`);
    await q.query(`ALTER TABLE "usage_records" DROP COLUMN "attempt_of"`);
  }
}
