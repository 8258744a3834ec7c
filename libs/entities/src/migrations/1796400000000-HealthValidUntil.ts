import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * How long a provider's (or gateway's) health status holds without a newer probe. The monitor sets it at each probe
 * from the subject's interval; past it, readers take the status as `unknown`, so a provider last seen `failing` is
 * not routed last and listed unavailable for good once no monitor runs. Existing statuses keep holding (null).
 */
export class HealthValidUntil1796400000000 implements MigrationInterface {
  name = 'HealthValidUntil1796400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "providers" ADD COLUMN "health_valid_until" timestamptz`);
    await q.query(`ALTER TABLE "gateways" ADD COLUMN "health_valid_until" timestamptz`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "gateways" DROP COLUMN "health_valid_until"`);
    await q.query(`ALTER TABLE "providers" DROP COLUMN "health_valid_until"`);
  }
}
