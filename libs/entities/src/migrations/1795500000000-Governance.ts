import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Governance: keys get an expiry, a model/provider allow-list and their own rate limits; quotas default to the
 * `default` tier (no limits unless configured) as before.
 */
export class Governance1795500000000 implements MigrationInterface {
  name = 'Governance1795500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "api_keys" ADD COLUMN "expires_at" timestamptz`);
    await q.query(`ALTER TABLE "api_keys" ADD COLUMN "allowed_models" text[]`);
    await q.query(`ALTER TABLE "api_keys" ADD COLUMN "rpm" integer`);
    await q.query(`ALTER TABLE "api_keys" ADD COLUMN "tpm" integer`);
    await q.query(
      `ALTER TABLE "api_keys" ADD CONSTRAINT "ck_api_keys_limits" CHECK (("rpm" IS NULL OR "rpm" >= 1) AND ("tpm" IS NULL OR "tpm" >= 1))`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "api_keys" DROP CONSTRAINT "ck_api_keys_limits"`);
    await q.query(`ALTER TABLE "api_keys" DROP COLUMN "tpm"`);
    await q.query(`ALTER TABLE "api_keys" DROP COLUMN "rpm"`);
    await q.query(`ALTER TABLE "api_keys" DROP COLUMN "allowed_models"`);
    await q.query(`ALTER TABLE "api_keys" DROP COLUMN "expires_at"`);
  }
}
