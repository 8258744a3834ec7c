import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Failed provider attempts of a request answered (or failed) on another deployment get rows of their own, linked to
 * their request by `attempt_of`; the request's own row keeps it null. Existing rows are requests.
 */
export class UsageAttempts1796500000000 implements MigrationInterface {
  name = 'UsageAttempts1796500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "usage_records" ADD COLUMN "attempt_of" text`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DELETE FROM "usage_records" WHERE "attempt_of" IS NOT NULL`);
    await q.query(`ALTER TABLE "usage_records" DROP COLUMN "attempt_of"`);
  }
}
