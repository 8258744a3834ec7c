import { Logger, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import {
  createDataSourceOptions,
  databaseUnavailable,
  describeDatabaseError,
  pendingMigrations,
  runMigrationsLocked,
} from '@aigw/entities';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { BaseEnv, ENV } from '../config/base-env';
import { StartupError, whereIs } from '../lifecycle/start-failure';
import { MigratedDatabase } from './migrated-database';

/** A PostgreSQL starting alongside the apps (compose, a cluster's first rollout) gets this long: 4 × 2 s. */
const CONNECT_ATTEMPTS = 5;
const CONNECT_RETRY_MS = 2000;

/**
 * Connects, trying again while PostgreSQL cannot be reached, with one line per attempt (TypeORM's own retries log
 * a stack each, and Nest's ExceptionHandler another); then fails with one line naming DATABASE_URL.
 */
async function connect(options: DataSourceOptions): Promise<DataSource> {
  const where = whereIs('url' in options ? options.url : undefined, '5432', true);
  const logger = new Logger('Database');
  for (let attempt = 1; ; attempt++) {
    const ds = new DataSource(options);
    try {
      return await ds.initialize();
    } catch (err) {
      const reason = describeDatabaseError(err);
      // Not (yet) there is worth another attempt; a refused login or database is not.
      if (!databaseUnavailable(err)) {
        throw new StartupError(`PostgreSQL at ${where} refused the connection (${reason}): check DATABASE_URL`, {
          cause: err,
        });
      }
      if (attempt === CONNECT_ATTEMPTS) {
        throw new StartupError(
          `PostgreSQL at ${where} cannot be reached (${reason}): check DATABASE_URL and that PostgreSQL is up`,
          { cause: err },
        );
      }
      logger.warn(`PostgreSQL at ${where} cannot be reached (${reason}); trying again in ${CONNECT_RETRY_MS} ms`);
      await new Promise((resolve) => setTimeout(resolve, CONNECT_RETRY_MS));
    }
  }
}

/**
 * PostgreSQL through TypeORM. Migrations run at boot under an advisory lock (several replicas may
 * start at once) unless DB_SKIP_MIGRATIONS=true; `synchronize` is never used. Services inject
 * MigratedDatabase, which exists only once the migrations have run.
 */
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [ENV],
      useFactory: (env: BaseEnv) => ({
        ...createDataSourceOptions({ url: env.DATABASE_URL, schema: env.DATABASE_SCHEMA }),
        // `connect` retries, one line each; TypeORM's retries would log a stack per attempt.
        toRetry: () => false,
      }),
      dataSourceFactory: async (options) => {
        if (!options) {
          throw new Error('database options missing');
        }
        return connect(options);
      },
    }),
  ],
  providers: [
    {
      provide: MigratedDatabase,
      inject: [ENV, DataSource],
      useFactory: async (env: BaseEnv, ds: DataSource) => {
        if (!env.DB_SKIP_MIGRATIONS) {
          const logger = new Logger('Migrations');
          await runMigrationsLocked(ds, (msg: string) => logger.log(msg));
        } else {
          // Otherwise the first query of a missing table fails, mid-start or at the first request.
          const pending = await pendingMigrations(ds);
          if (pending.length > 0) {
            throw new StartupError(
              `schema "${env.DATABASE_SCHEMA}" lacks ${pending.length} migration(s) (from ${pending[0]}) and ` +
                'DB_SKIP_MIGRATIONS=true: run them first (`npm run migration:run` with the same DATABASE_URL and ' +
                'DATABASE_SCHEMA), or unset DB_SKIP_MIGRATIONS to run them at boot',
            );
          }
        }
        return new MigratedDatabase(ds);
      },
    },
  ],
  exports: [MigratedDatabase],
})
export class DatabaseModule {}
