import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Per-model response cache settings (`{enabled?, ttlS?}`, ADR 0005); jsonb so new settings need no migration. */
export class ModelCache1795750000000 implements MigrationInterface {
  name = 'ModelCache1795750000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "models" ADD COLUMN "cache" jsonb`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "models" DROP COLUMN "cache"`);
  }
}
