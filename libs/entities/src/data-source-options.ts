import type { PostgresConnectionOptions } from 'typeorm/driver/postgres/PostgresConnectionOptions';
import { ENTITIES } from './entities/all';
import { MIGRATIONS } from './migrations/all';
import { checkSchemaName } from './schema-name';

export interface DatabaseConfig {
  /** postgres://user:pass@host:port/db */
  url: string;
  /** Schema holding every table and the migrations table; default `public`. */
  schema?: string;
  /** Pool size per process (pg default 10). */
  poolSize?: number;
  applicationName?: string;
}

/** Options for a DataSource (or TypeOrmModule). Migrations run through runMigrationsLocked, never `synchronize`. */
export function createDataSourceOptions(config: DatabaseConfig): PostgresConnectionOptions {
  const schema = checkSchemaName(config.schema);
  return {
    type: 'postgres',
    url: config.url,
    schema,
    entities: [...ENTITIES],
    migrations: [...MIGRATIONS],
    migrationsTableName: 'migrations',
    migrationsTransactionMode: 'each',
    synchronize: false,
    migrationsRun: false,
    // gen_random_uuid() is built into PostgreSQL 13+; installing extensions needs rights we may not have.
    uuidExtension: 'pgcrypto',
    installExtensions: false,
    applicationName: config.applicationName,
    extra: {
      // Unqualified names in migrations and raw SQL resolve to the configured schema.
      options: `-c search_path=${schema}`,
      ...(config.poolSize === undefined ? {} : { max: config.poolSize }),
    },
  };
}
