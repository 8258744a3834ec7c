import { DataSource } from 'typeorm';
import { createDataSourceOptions } from '../data-source-options';
import { readDatabaseEnv } from '../database-env';

/**
 * The DataSource for the TypeORM CLI only (`typeorm -d dist/libs/entities/src/cli/data-source.js
 * migration:show`). The apps build their own through createDataSourceOptions.
 */
export default new DataSource(createDataSourceOptions(readDatabaseEnv(process.env)));
