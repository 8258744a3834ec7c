import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The initial schema. Table names are unqualified on purpose: the connection's search_path
 * (set by createDataSourceOptions) puts everything in the configured schema.
 */
export class Initial1795254620694 implements MigrationInterface {
  name = 'Initial1795254620694';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "users" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "name" text NOT NULL,
        "created_at" timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT "pk_users" PRIMARY KEY ("id"),
        CONSTRAINT "uq_users_name" UNIQUE ("name")
      )`);
    await q.query(`
      CREATE TABLE "api_keys" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "user_id" uuid NOT NULL,
        "role" text NOT NULL DEFAULT 'user',
        "key_hash" char(64) NOT NULL,
        "prefix" text NOT NULL,
        "name" text,
        "created_at" timestamptz NOT NULL DEFAULT now(),
        "last_used_at" timestamptz,
        "revoked_at" timestamptz,
        CONSTRAINT "pk_api_keys" PRIMARY KEY ("id"),
        CONSTRAINT "uq_api_keys_key_hash" UNIQUE ("key_hash"),
        CONSTRAINT "ck_api_keys_role" CHECK ("role" IN ('user', 'admin')),
        CONSTRAINT "fk_api_keys_user" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON DELETE CASCADE
      )`);
    await q.query(`CREATE INDEX "ix_api_keys_user_id" ON "api_keys" ("user_id")`);
    await q.query(`CREATE INDEX "ix_api_keys_prefix" ON "api_keys" ("prefix")`);

    await q.query(`
      CREATE TABLE "gateways" (
        "id" text NOT NULL,
        "base_url" text NOT NULL,
        "encrypted_secret" text,
        "timeout_ms" integer NOT NULL DEFAULT 60000,
        "updated_at" timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT "pk_gateways" PRIMARY KEY ("id"),
        CONSTRAINT "ck_gateways_timeout_ms" CHECK ("timeout_ms" > 0)
      )`);
    await q.query(`
      CREATE TABLE "providers" (
        "id" text NOT NULL,
        "kind" text NOT NULL,
        "base_url" text NOT NULL,
        "routing" text NOT NULL DEFAULT 'direct',
        "gateway_id" text,
        "enabled" boolean NOT NULL DEFAULT true,
        "health_status" text NOT NULL DEFAULT 'unknown',
        "consecutive_failures" integer NOT NULL DEFAULT 0,
        "last_check_at" timestamptz,
        "timeout_ms" integer NOT NULL DEFAULT 60000,
        "max_connections" integer NOT NULL DEFAULT 128,
        "encrypted_secret" text,
        "source" text NOT NULL DEFAULT 'file',
        "created_at" timestamptz NOT NULL DEFAULT now(),
        "updated_at" timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT "pk_providers" PRIMARY KEY ("id"),
        CONSTRAINT "ck_providers_routing" CHECK ("routing" IN ('direct', 'gateway', 'auto')),
        CONSTRAINT "ck_providers_health_status" CHECK ("health_status" IN ('unknown', 'healthy', 'degraded', 'failing')),
        CONSTRAINT "ck_providers_source" CHECK ("source" IN ('file', 'admin')),
        CONSTRAINT "ck_providers_timeout_ms" CHECK ("timeout_ms" > 0),
        CONSTRAINT "ck_providers_max_connections" CHECK ("max_connections" > 0),
        CONSTRAINT "fk_providers_gateway" FOREIGN KEY ("gateway_id") REFERENCES "gateways" ("id") ON DELETE RESTRICT
      )`);
    await q.query(`CREATE INDEX "ix_providers_gateway_id" ON "providers" ("gateway_id")`);
    await q.query(`
      CREATE TABLE "models" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "provider_id" text NOT NULL,
        "name" text NOT NULL,
        "upstream_name" text NOT NULL,
        "prompt_per_1k" numeric(18, 9) NOT NULL,
        "completion_per_1k" numeric(18, 9) NOT NULL,
        "cached_prompt_per_1k" numeric(18, 9),
        "context_window" integer NOT NULL,
        "capabilities" text[] NOT NULL DEFAULT '{chat,streaming}',
        "quality" real,
        "enabled" boolean NOT NULL DEFAULT true,
        "recommended" boolean NOT NULL DEFAULT false,
        "created_at" timestamptz NOT NULL DEFAULT now(),
        "updated_at" timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT "pk_models" PRIMARY KEY ("id"),
        CONSTRAINT "uq_models_provider_name" UNIQUE ("provider_id", "name"),
        CONSTRAINT "ck_models_prices" CHECK (
          "prompt_per_1k" >= 0 AND "completion_per_1k" >= 0 AND ("cached_prompt_per_1k" IS NULL OR "cached_prompt_per_1k" >= 0)
        ),
        CONSTRAINT "ck_models_context_window" CHECK ("context_window" > 0),
        CONSTRAINT "ck_models_quality" CHECK ("quality" IS NULL OR ("quality" >= 0 AND "quality" <= 1)),
        CONSTRAINT "fk_models_provider" FOREIGN KEY ("provider_id") REFERENCES "providers" ("id") ON DELETE CASCADE
      )`);
    await q.query(`CREATE INDEX "ix_models_name" ON "models" ("name")`);

    await q.query(`
      CREATE TABLE "user_preferences" (
        "user_id" uuid NOT NULL,
        "context" text NOT NULL DEFAULT '',
        "model" text NOT NULL,
        "policy" text,
        "updated_at" timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT "pk_user_preferences" PRIMARY KEY ("user_id", "context"),
        CONSTRAINT "fk_user_preferences_user" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON DELETE CASCADE
      )`);
    await q.query(`
      CREATE TABLE "user_quotas" (
        "user_id" uuid NOT NULL,
        "tier" text NOT NULL DEFAULT 'default',
        "daily_request_limit" integer,
        "monthly_request_limit" integer,
        "daily_spend_limit_usd" numeric(18, 9),
        "monthly_spend_limit_usd" numeric(18, 9),
        "daily_reset_at" timestamptz,
        "monthly_reset_at" timestamptz,
        "updated_at" timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT "pk_user_quotas" PRIMARY KEY ("user_id"),
        CONSTRAINT "ck_user_quotas_limits" CHECK (
          ("daily_request_limit" IS NULL OR "daily_request_limit" >= 0) AND
          ("monthly_request_limit" IS NULL OR "monthly_request_limit" >= 0) AND
          ("daily_spend_limit_usd" IS NULL OR "daily_spend_limit_usd" >= 0) AND
          ("monthly_spend_limit_usd" IS NULL OR "monthly_spend_limit_usd" >= 0)
        ),
        CONSTRAINT "fk_user_quotas_user" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON DELETE CASCADE
      )`);

    await q.query(`
      CREATE TABLE "usage_records" (
        "id" bigserial NOT NULL,
        "request_id" text NOT NULL,
        "user_id" uuid NOT NULL,
        "api_key_id" uuid NOT NULL,
        "requested_model" text NOT NULL,
        "provider" text,
        "model" text,
        "context" text,
        "prompt_tokens" integer NOT NULL DEFAULT 0,
        "completion_tokens" integer NOT NULL DEFAULT 0,
        "cached_tokens" integer NOT NULL DEFAULT 0,
        "cost_usd" numeric(18, 9) NOT NULL DEFAULT 0,
        "latency_ms" integer NOT NULL DEFAULT 0,
        "cached" boolean NOT NULL DEFAULT false,
        "status" text NOT NULL,
        "error_class" text,
        "error_code" text,
        "attempts" integer NOT NULL DEFAULT 0,
        "policy" text,
        "stream" boolean NOT NULL DEFAULT false,
        "created_at" timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT "pk_usage_records" PRIMARY KEY ("id"),
        CONSTRAINT "uq_usage_records_request_id" UNIQUE ("request_id"),
        CONSTRAINT "ck_usage_records_status" CHECK ("status" IN ('success', 'error'))
      )`);
    await q.query(`CREATE INDEX "ix_usage_records_user_created" ON "usage_records" ("user_id", "created_at")`);
    await q.query(`CREATE INDEX "ix_usage_records_provider_created" ON "usage_records" ("provider", "created_at")`);
    await q.query(`CREATE INDEX "ix_usage_records_created_at" ON "usage_records" ("created_at")`);

    await q.query(`
      CREATE TABLE "provider_health_checks" (
        "id" bigserial NOT NULL,
        "provider_id" text NOT NULL,
        "ok" boolean NOT NULL,
        "latency_ms" integer,
        "status" integer,
        "message" text,
        "checked_at" timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT "pk_provider_health_checks" PRIMARY KEY ("id"),
        CONSTRAINT "fk_provider_health_checks_provider" FOREIGN KEY ("provider_id") REFERENCES "providers" ("id") ON DELETE CASCADE
      )`);
    await q.query(
      `CREATE INDEX "ix_provider_health_checks_provider_checked" ON "provider_health_checks" ("provider_id", "checked_at")`,
    );

    await q.query(`
      CREATE TABLE "audit_log" (
        "id" bigserial NOT NULL,
        "actor" text NOT NULL,
        "action" text NOT NULL,
        "target" text,
        "detail" jsonb,
        "created_at" timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT "pk_audit_log" PRIMARY KEY ("id")
      )`);
    await q.query(`CREATE INDEX "ix_audit_log_created_at" ON "audit_log" ("created_at")`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX "ix_audit_log_created_at"`);
    await q.query(`DROP TABLE "audit_log"`);
    await q.query(`DROP INDEX "ix_provider_health_checks_provider_checked"`);
    await q.query(`DROP TABLE "provider_health_checks"`);
    await q.query(`DROP INDEX "ix_usage_records_created_at"`);
    await q.query(`DROP INDEX "ix_usage_records_provider_created"`);
    await q.query(`DROP INDEX "ix_usage_records_user_created"`);
    await q.query(`DROP TABLE "usage_records"`);
    await q.query(`DROP TABLE "user_quotas"`);
    await q.query(`DROP TABLE "user_preferences"`);
    await q.query(`DROP INDEX "ix_models_name"`);
    await q.query(`DROP TABLE "models"`);
    await q.query(`DROP INDEX "ix_providers_gateway_id"`);
    await q.query(`DROP TABLE "providers"`);
    await q.query(`DROP TABLE "gateways"`);
    await q.query(`DROP INDEX "ix_api_keys_prefix"`);
    await q.query(`DROP INDEX "ix_api_keys_user_id"`);
    await q.query(`DROP TABLE "api_keys"`);
    await q.query(`DROP TABLE "users"`);
  }
}
