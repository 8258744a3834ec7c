import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Provider administration: providers and gateways remember the `${VAR}` reference their key was configured with
 * (a config export writes it instead of the key), and gateways, like providers, record whether the catalog file
 * or the admin API owns them (the boot seed leaves admin rows alone).
 */
export class AdminCatalog1796200000000 implements MigrationInterface {
  name = 'AdminCatalog1796200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "providers" ADD COLUMN "api_key_ref" text`);
    await q.query(`ALTER TABLE "gateways" ADD COLUMN "api_key_ref" text`);
    await q.query(`ALTER TABLE "gateways" ADD COLUMN "source" text NOT NULL DEFAULT 'file'`);
    await q.query(`ALTER TABLE "gateways" ADD CONSTRAINT "ck_gateways_source" CHECK ("source" IN ('file', 'admin'))`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "gateways" DROP CONSTRAINT "ck_gateways_source"`);
    await q.query(`ALTER TABLE "gateways" DROP COLUMN "source"`);
    await q.query(`ALTER TABLE "gateways" DROP COLUMN "api_key_ref"`);
    await q.query(`ALTER TABLE "providers" DROP COLUMN "api_key_ref"`);
  }
}
