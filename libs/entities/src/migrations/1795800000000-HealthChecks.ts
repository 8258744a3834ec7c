import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The health monitor: each check row names its route (and error class), and may belong to a gateway (its own
 * `health` probe) instead of a provider; providers and gateways keep their last error, providers their own probe
 * interval and when their model list was last read; the models each provider lists are kept beside the catalog.
 */
export class HealthChecks1795800000000 implements MigrationInterface {
  name = 'HealthChecks1795800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "provider_health_checks" ADD COLUMN "route" text NOT NULL DEFAULT 'direct'`);
    await q.query(`ALTER TABLE "provider_health_checks" ADD COLUMN "error_class" text`);
    await q.query(`ALTER TABLE "provider_health_checks" ADD COLUMN "gateway_id" text`);
    await q.query(`ALTER TABLE "provider_health_checks" ALTER COLUMN "provider_id" DROP NOT NULL`);
    await q.query(
      `ALTER TABLE "provider_health_checks" ADD CONSTRAINT "ck_provider_health_checks_route" CHECK ("route" IN ('direct', 'gateway', 'health'))`,
    );
    await q.query(
      `ALTER TABLE "provider_health_checks" ADD CONSTRAINT "ck_provider_health_checks_subject" CHECK (("provider_id" IS NULL) <> ("gateway_id" IS NULL))`,
    );
    await q.query(
      `ALTER TABLE "provider_health_checks" ADD CONSTRAINT "fk_provider_health_checks_gateway" FOREIGN KEY ("gateway_id") REFERENCES "gateways" ("id") ON DELETE CASCADE`,
    );
    await q.query(
      `CREATE INDEX "ix_provider_health_checks_gateway_checked" ON "provider_health_checks" ("gateway_id", "checked_at")`,
    );
    // Retention prunes by age across every subject.
    await q.query(`CREATE INDEX "ix_provider_health_checks_checked" ON "provider_health_checks" ("checked_at")`);

    await q.query(`ALTER TABLE "providers" ADD COLUMN "last_error" text`);
    await q.query(`ALTER TABLE "providers" ADD COLUMN "health_interval_s" integer`);
    await q.query(`ALTER TABLE "providers" ADD COLUMN "models_refreshed_at" timestamptz`);
    await q.query(
      `ALTER TABLE "providers" ADD CONSTRAINT "ck_providers_health_interval_s" CHECK ("health_interval_s" > 0)`,
    );

    await q.query(`ALTER TABLE "gateways" ADD COLUMN "health_status" text NOT NULL DEFAULT 'unknown'`);
    await q.query(`ALTER TABLE "gateways" ADD COLUMN "consecutive_failures" integer NOT NULL DEFAULT 0`);
    await q.query(`ALTER TABLE "gateways" ADD COLUMN "last_check_at" timestamptz`);
    await q.query(`ALTER TABLE "gateways" ADD COLUMN "last_error" text`);
    await q.query(
      `ALTER TABLE "gateways" ADD CONSTRAINT "ck_gateways_health_status" CHECK ("health_status" IN ('unknown', 'healthy', 'degraded', 'failing'))`,
    );

    await q.query(`
      CREATE TABLE "provider_discovered_models" (
        "provider_id" text NOT NULL,
        "model" text NOT NULL,
        "capabilities" jsonb NOT NULL,
        "first_seen_at" timestamptz NOT NULL,
        "last_seen_at" timestamptz NOT NULL,
        CONSTRAINT "pk_provider_discovered_models" PRIMARY KEY ("provider_id", "model"),
        CONSTRAINT "fk_provider_discovered_models_provider" FOREIGN KEY ("provider_id") REFERENCES "providers" ("id") ON DELETE CASCADE
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "provider_discovered_models"`);
    await q.query(`ALTER TABLE "gateways" DROP CONSTRAINT "ck_gateways_health_status"`);
    for (const c of ['last_error', 'last_check_at', 'consecutive_failures', 'health_status']) {
      await q.query(`ALTER TABLE "gateways" DROP COLUMN "${c}"`);
    }
    await q.query(`ALTER TABLE "providers" DROP CONSTRAINT "ck_providers_health_interval_s"`);
    for (const c of ['models_refreshed_at', 'health_interval_s', 'last_error']) {
      await q.query(`ALTER TABLE "providers" DROP COLUMN "${c}"`);
    }
    await q.query(`DROP INDEX "ix_provider_health_checks_checked"`);
    await q.query(`DROP INDEX "ix_provider_health_checks_gateway_checked"`);
    // Gateway rows have no provider: they cannot stay once provider_id is required again.
    await q.query(`DELETE FROM "provider_health_checks" WHERE "provider_id" IS NULL`);
    await q.query(`ALTER TABLE "provider_health_checks" DROP CONSTRAINT "fk_provider_health_checks_gateway"`);
    await q.query(`ALTER TABLE "provider_health_checks" DROP CONSTRAINT "ck_provider_health_checks_subject"`);
    await q.query(`ALTER TABLE "provider_health_checks" DROP CONSTRAINT "ck_provider_health_checks_route"`);
    await q.query(`ALTER TABLE "provider_health_checks" ALTER COLUMN "provider_id" SET NOT NULL`);
    for (const c of ['gateway_id', 'error_class', 'route']) {
      await q.query(`ALTER TABLE "provider_health_checks" DROP COLUMN "${c}"`);
    }
  }
}
