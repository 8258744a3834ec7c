import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A success's answering provider call's own time (`usage_records.provider_latency_ms`), which the deployment's latency
 * statistics average instead of the request's whole time (`latency_ms`: its queue wait and other deployments'
 * failures too). Null on older rows, whose `latency_ms` stands in. A nullable column without a default: no rewrite.
 */
export class ProviderLatency1799300000000 implements MigrationInterface {
  name = 'ProviderLatency1799300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "usage_records" ADD COLUMN "provider_latency_ms" integer`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "usage_records" DROP COLUMN "provider_latency_ms"`);
  }
}
