import { setTimeout as delay } from 'node:timers/promises';
import { DataSource } from 'typeorm';
import { createDataSourceOptions } from '../data-source-options';
import { databaseUnavailable, describeDatabaseError, readDatabaseEnv } from '../database-env';
import { runMigrationsLocked } from '../migrate-locked';

/**
 * As the apps (a PostgreSQL starting alongside: compose, a cluster's first rollout): 5 attempts 2 s apart while it
 * cannot be reached, one line each; a refused login or database fails at once.
 */
const CONNECT_ATTEMPTS = 5;
const CONNECT_RETRY_MS = 2000;

async function connect(options: ReturnType<typeof createDataSourceOptions>): Promise<DataSource> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await new DataSource(options).initialize();
    } catch (err) {
      if (!databaseUnavailable(err) || attempt === CONNECT_ATTEMPTS) {
        throw err;
      }
      console.error(
        `PostgreSQL cannot be reached (${describeDatabaseError(err)}); trying again in ${CONNECT_RETRY_MS} ms`,
      );
      await delay(CONNECT_RETRY_MS);
    }
  }
}

/** `npm run migration:run`: applies pending migrations under the migration lock. */
async function main(): Promise<void> {
  const env = readDatabaseEnv(process.env);
  const dataSource = await connect(createDataSourceOptions({ ...env, poolSize: 1, applicationName: 'aigw-migrate' }));
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
