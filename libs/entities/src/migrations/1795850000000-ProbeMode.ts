import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * How the health monitor probes a provider: `health` (the model list or a health endpoint, never billed) for
 * every existing row; the catalog's `probe: completion` opts a provider in to a billed one-token completion.
 */
export class ProbeMode1795850000000 implements MigrationInterface {
  name = 'ProbeMode1795850000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "providers" ADD COLUMN "probe_mode" text NOT NULL DEFAULT 'health'`);
    await q.query(
      `ALTER TABLE "providers" ADD CONSTRAINT "ck_providers_probe_mode" CHECK ("probe_mode" IN ('health', 'completion'))`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "providers" DROP CONSTRAINT "ck_providers_probe_mode"`);
    await q.query(`ALTER TABLE "providers" DROP COLUMN "probe_mode"`);
  }
}
