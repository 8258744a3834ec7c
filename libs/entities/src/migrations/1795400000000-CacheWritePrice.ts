import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Anthropic bills prompt-cache writes at their own rate: a price column beside the cached-read one. */
export class CacheWritePrice1795400000000 implements MigrationInterface {
  name = 'CacheWritePrice1795400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "models" ADD COLUMN "cache_write_per_1k" numeric(18, 9)`);
    await q.query(
      `ALTER TABLE "models" ADD CONSTRAINT "ck_models_cache_write_price" CHECK ("cache_write_per_1k" IS NULL OR "cache_write_per_1k" >= 0)`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "models" DROP CONSTRAINT "ck_models_cache_write_price"`);
    await q.query(`ALTER TABLE "models" DROP COLUMN "cache_write_per_1k"`);
  }
}
