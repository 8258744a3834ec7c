import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What the catalog file (or the provider variables) said of each provider and gateway when the row last agreed with
 * it (`seeded`, see ProviderEntity.seeded): the boot seed warns about a row an admin edited only for what the file
 * changed since, not for the admin's own edits at every boot. Null until the first seed after this migration.
 */
export class SeededSettings1796900000000 implements MigrationInterface {
  name = 'SeededSettings1796900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "providers" ADD "seeded" jsonb`);
    await q.query(`ALTER TABLE "gateways" ADD "seeded" jsonb`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "gateways" DROP COLUMN "seeded"`);
    await q.query(`ALTER TABLE "providers" DROP COLUMN "seeded"`);
  }
}
