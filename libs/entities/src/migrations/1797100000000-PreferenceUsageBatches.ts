import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The preference usage batches written, by id: a batch retried after its reply was lost (PostgreSQL had committed
 * it) adds its counts once. Pruned by the writes themselves, oldest first (the index).
 */
export class PreferenceUsageBatches1797100000000 implements MigrationInterface {
  name = 'PreferenceUsageBatches1797100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "preference_usage_batches" (
        "batch_id" uuid NOT NULL,
        "written_at" timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT "pk_preference_usage_batches" PRIMARY KEY ("batch_id")
      )`);
    await q.query(
      `CREATE INDEX "idx_preference_usage_batches_written_at" ON "preference_usage_batches" ("written_at")`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "preference_usage_batches"`);
  }
}
