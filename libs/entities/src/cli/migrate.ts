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

const USAGE = `Usage: npm run migration:run [-- --help]

Applies the pending database migrations to DATABASE_SCHEMA (created if missing), under the same
advisory lock as the apps' boot, and names each one it ran (or says the schema is up to date).
It takes no arguments.

Environment:
  DATABASE_URL     postgres://user:password@host:port/database (default: postgres://postgres@127.0.0.1:5432/postgres)
  DATABASE_SCHEMA  schema to migrate (default: public)

Exit status: 0 when the schema is up to date, 1 when a migration or the connection failed, 2 for a
bad command line.`;

/**
 * The command line: `--help` (or `-h`, `help`) prints the usage, anything else is refused. Both answer before anything
 * connects: `npm run migration:run -- --help` used to ignore the argument and migrate the configured database.
 */
function readArgs(argv: readonly string[]): boolean {
  if (argv.length === 0) {
    return true;
  }
  if (argv.length === 1 && ['--help', '-h', 'help'].includes(argv[0])) {
    console.log(USAGE);
    return false;
  }
  console.error(`migrate: unexpected argument '${argv[0]}'\n\n${USAGE}`);
  process.exitCode = 2;
  return false;
}

/** `npm run migration:run`: applies pending migrations under the migration lock. */
async function main(): Promise<void> {
  if (!readArgs(process.argv.slice(2))) {
    return;
  }
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
