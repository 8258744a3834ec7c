import { DataSource } from 'typeorm';
import { createDataSourceOptions } from '../data-source-options';
import { describeDatabaseError, readDatabaseEnv } from '../database-env';
import { runMigrationsLocked } from '../migrate-locked';

/** `npm run migration:run`: applies pending migrations under the migration lock. */
async function main(): Promise<void> {
  const env = readDatabaseEnv(process.env);
  const dataSource = new DataSource(createDataSourceOptions({ ...env, poolSize: 1, applicationName: 'aigw-migrate' }));
  await dataSource.initialize();
  try {
    // The log line names every migration that ran (or says the schema is up to date).
    await runMigrationsLocked(dataSource, (line) => console.log(line));
  } finally {
    await dataSource.destroy();
  }
}

main().catch((err: unknown) => {
  console.error(`migration failed: ${describeDatabaseError(err)}`);
  process.exitCode = 1;
});
