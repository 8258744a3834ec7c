import type { DataSource } from 'typeorm';

/**
 * PostgreSQL once this process's migrations have run (DatabaseModule runs them at boot, under an advisory lock).
 * Inject this rather than TypeORM's DataSource: whoever holds it may query, and the dependency itself orders the
 * holder after the migrations.
 */
export class MigratedDatabase {
  constructor(
    readonly dataSource: DataSource,
    /** False when DB_SKIP_MIGRATIONS left the schema to someone else (a migration job before the rollout). */
    readonly migratedHere: boolean,
  ) {}
}
