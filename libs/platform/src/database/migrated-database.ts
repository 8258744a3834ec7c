import type { DataSource } from 'typeorm';

/**
 * PostgreSQL once this process's migrations have run (DatabaseModule runs them at boot, under an advisory lock), or
 * once it skipped them (DB_SKIP_MIGRATIONS: a migration job ran them before the rollout).
 * Inject this rather than TypeORM's DataSource: whoever holds it may query, and the dependency itself orders the
 * holder after the migrations.
 */
export class MigratedDatabase {
  constructor(readonly dataSource: DataSource) {}
}
