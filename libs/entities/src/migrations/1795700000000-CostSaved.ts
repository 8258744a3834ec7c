import type { MigrationInterface, QueryRunner } from 'typeorm';

/** A response cache hit costs nothing; what the provider call it replaced cost is kept beside it. */
export class CostSaved1795700000000 implements MigrationInterface {
  name = 'CostSaved1795700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "usage_records" ADD COLUMN "cost_saved_usd" numeric(18, 9) NOT NULL DEFAULT 0`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "usage_records" DROP COLUMN "cost_saved_usd"`);
  }
}
