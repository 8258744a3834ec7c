import { Logger, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { createDataSourceOptions, runMigrationsLocked } from '@aigw/entities';
import { DataSource } from 'typeorm';
import { BaseEnv, ENV } from '../config/base-env';
import { MigratedDatabase } from './migrated-database';

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
        retryAttempts: 5,
        retryDelay: 2000,
      }),
      dataSourceFactory: async (options) => {
        if (!options) {
          throw new Error('database options missing');
        }
        const ds = await new DataSource(options).initialize();
        return ds;
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
        }
        return new MigratedDatabase(ds);
      },
    },
  ],
  exports: [MigratedDatabase],
})
export class DatabaseModule {}
