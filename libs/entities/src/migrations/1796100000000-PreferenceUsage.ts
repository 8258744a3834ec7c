import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Preferences written by the API (`provider` + `model`) with their usage counters, and the catalog fields the
 * models listing shows (display names, description; `models.recommended` already exists).
 */
export class PreferenceUsage1796100000000 implements MigrationInterface {
  name = 'PreferenceUsage1796100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE "user_preferences"
        ADD COLUMN "provider" text,
        ADD COLUMN "usage_count" bigint NOT NULL DEFAULT 0,
        ADD COLUMN "last_used_at" timestamptz,
        ADD COLUMN "created_at" timestamptz NOT NULL DEFAULT now()`);
    await q.query(`ALTER TABLE "models" ADD COLUMN "display_name" text, ADD COLUMN "description" text`);
    await q.query(`ALTER TABLE "providers" ADD COLUMN "display_name" text`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "providers" DROP COLUMN "display_name"`);
    await q.query(`ALTER TABLE "models" DROP COLUMN "display_name", DROP COLUMN "description"`);
    await q.query(`
      ALTER TABLE "user_preferences"
        DROP COLUMN "provider",
        DROP COLUMN "usage_count",
        DROP COLUMN "last_used_at",
        DROP COLUMN "created_at"`);
  }
}
