import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Providers of `kind: plugin` name the module implementing their adapter; local OpenAI-compatible servers
 * (llama.cpp, vLLM) name the health endpoint their health check reads. Both optional.
 */
export class ProviderPlugin1795600000000 implements MigrationInterface {
  name = 'ProviderPlugin1795600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "providers" ADD COLUMN "plugin_module" text`);
    await q.query(`ALTER TABLE "providers" ADD COLUMN "health_path" text`);
    await q.query(
      `ALTER TABLE "providers" ADD CONSTRAINT "ck_providers_plugin_module" CHECK (("kind" = 'plugin') = ("plugin_module" IS NOT NULL))`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "providers" DROP CONSTRAINT "ck_providers_plugin_module"`);
    await q.query(`ALTER TABLE "providers" DROP COLUMN "health_path"`);
    await q.query(`ALTER TABLE "providers" DROP COLUMN "plugin_module"`);
  }
}
