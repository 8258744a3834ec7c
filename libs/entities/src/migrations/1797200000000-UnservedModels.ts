import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The routed models a provider's own model list lacked at the monitor's last probe (by upstream name), written with
 * its health status: the workers read it with the catalog and try those deployments last, and the listings stop
 * advertising them. Null: none known. Taken only while the probe that wrote it is not older than the provider's
 * settings (`updated_at`) and its status still holds (`health_valid_until`).
 */
export class UnservedModels1797200000000 implements MigrationInterface {
  name = 'UnservedModels1797200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "providers" ADD COLUMN "unserved_models" jsonb`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "providers" DROP COLUMN "unserved_models"`);
  }
}
