import { MigrationExecutor, type DataSource, type QueryRunner } from 'typeorm';
import { withoutReadTimeout } from './data-source-options';
import { advisoryLockKey, checkSchemaName } from './schema-name';

export type MigrationLog = (line: string) => void;

/**
 * How long the migrating session may sit in an open transaction without a statement from its client before PostgreSQL
 * ends it (rolling the migration back and releasing the lock). The client sends a migration's statements back to back,
 * so only a client gone without closing its connection (its node lost, a network cut) waits that long: PostgreSQL
 * would otherwise keep its transaction open, and the tables it altered locked against the running release's usage
 * writes, and every other migrator waiting, until its TCP keepalive gave up (over two hours by default).
 */
export const MIGRATION_IDLE_IN_TRANSACTION_TIMEOUT_MS = 60_000;

export interface MigrationOptions {
  /** For tests: MIGRATION_IDLE_IN_TRANSACTION_TIMEOUT_MS otherwise. */
  idleInTransactionTimeoutMs?: number;
}

function schemaOf(dataSource: DataSource): string {
  const options = dataSource.options as { schema?: string };
  return checkSchemaName(options.schema);
}

/**
 * Creates the schema and runs pending migrations while holding a session advisory lock, so
 * that replicas booting together migrate once and the others wait, then find nothing to do.
 * Lock, migrations and unlock all use ONE dedicated connection: a session lock taken on one
 * pooled connection and released on another would never be released.
 * Returns the names of the migrations that ran.
 */
export async function runMigrationsLocked(
  dataSource: DataSource,
  log: MigrationLog = () => undefined,
  { idleInTransactionTimeoutMs = MIGRATION_IDLE_IN_TRANSACTION_TIMEOUT_MS }: MigrationOptions = {},
): Promise<string[]> {
  if (!dataSource.isInitialized) {
    throw new Error('runMigrationsLocked needs an initialized DataSource');
  }
  const schema = schemaOf(dataSource);
  const key = advisoryLockKey('migrations', schema);
  const runner = dataSource.createQueryRunner('master');
  try {
    // Waiting for another replica's migrations, or an index build, is no dead connection: no read timeout.
    return await withoutReadTimeout(runner, async () => {
      await runner.query(
        `SET idle_in_transaction_session_timeout = ${Math.max(1, Math.floor(idleInTransactionTimeoutMs))}`,
      );
      try {
        return await migrateHoldingLock(dataSource, runner, schema, key, log);
      } finally {
        // The connection goes back to the pool (an app's): its other users keep the server's default.
        await runner.query('RESET idle_in_transaction_session_timeout').catch(() => undefined);
      }
    });
  } finally {
    await runner.release();
  }
}

async function migrateHoldingLock(
  dataSource: DataSource,
  runner: QueryRunner,
  schema: string,
  key: string,
  log: MigrationLog,
): Promise<string[]> {
  await takeLock(runner, schema, key, log);
  try {
    await ensureSchema(runner, schema);
    const executor = new MigrationExecutor(dataSource, runner);
    executor.transaction = 'each';
    const ran = await executor.executePendingMigrations();
    const names = ran.map((m) => m.name);
    log(names.length === 0 ? `schema "${schema}" is up to date` : `applied ${names.join(', ')} to schema "${schema}"`);
    // An older build on a schema a newer release migrated (a rollback): it works (migrations only add), and says so.
    const known = new Set(dataSource.migrations.map((m) => m.name ?? m.constructor.name));
    const newer = (await executor.getExecutedMigrations()).map((m) => m.name).filter((name) => !known.has(name));
    if (newer.length > 0) {
      log(
        `schema "${schema}" also has ${newer.length} migration(s) this build does not know, from a newer release: ` +
          newer.join(', '),
      );
    }
    return names;
  } finally {
    // A failed unlock means the connection died, which drops the session lock anyway;
    // do not let it mask the migration's own error.
    await runner.query('SELECT pg_advisory_unlock($1::bigint)', [key]).catch(() => undefined);
  }
}

/**
 * Takes the migration lock, first saying so when another process holds it: a replica or init container waiting for
 * another's migrations (an upgrade's backfill may take minutes) would otherwise print nothing until they end.
 */
async function takeLock(runner: QueryRunner, schema: string, key: string, log: MigrationLog): Promise<void> {
  const [{ locked }] = (await runner.query('SELECT pg_try_advisory_lock($1::bigint) AS locked', [key])) as {
    locked: boolean;
  }[];
  if (locked) {
    return;
  }
  // A bigint advisory key is in pg_locks as its high and low 32 bits (classid, objid), objsubid 1.
  const holders = (await runner.query(
    `SELECT a.pid, a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.database = a.datid
        AND l.classid::bigint = ($1::bigint >> 32) & 4294967295 AND l.objid::bigint = $1::bigint & 4294967295`,
    [key],
  )) as { pid: number; application_name: string | null }[];
  const who = holders.map(
    (h) => `PostgreSQL backend pid ${h.pid}${h.application_name ? ` of ${h.application_name}` : ''}`,
  );
  log(
    `waiting for the migration lock of schema "${schema}": another process is migrating it` +
      (who.length > 0 ? ` (${who.join(', ')})` : ''),
  );
  await runner.query('SELECT pg_advisory_lock($1::bigint)', [key]);
}

/**
 * Creates the schema when it is missing. An existing one is left alone without asking for any right on the database:
 * `CREATE SCHEMA IF NOT EXISTS` checks the role's CREATE right on the database before it looks for the schema, so a
 * role that owns only its schema (the usual grant on a managed PostgreSQL) could not migrate it.
 */
async function ensureSchema(runner: QueryRunner, schema: string): Promise<void> {
  const rows = (await runner.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])) as unknown[];
  if (rows.length === 0) {
    try {
      await runner.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    } catch (err) {
      if ((err as { code?: unknown }).code === '42501') {
        throw new Error(
          `schema "${schema}" does not exist and this role may not create it (${(err as Error).message}): create it ` +
            `for the role (CREATE SCHEMA "${schema}" AUTHORIZATION <role>) or check DATABASE_SCHEMA`,
          { cause: err },
        );
      }
      throw err;
    }
  }
}

/**
 * Names of the migrations this build has that the DataSource's schema has not applied; read only (no lock, and the
 * migrations table is not created when missing), for a process that skips migrations (DB_SKIP_MIGRATIONS) and must
 * not start on a schema a migration job has not brought up to date.
 */
export async function pendingMigrations(dataSource: DataSource): Promise<string[]> {
  const schema = schemaOf(dataSource);
  const table = `${dataSource.driver.escape(schema)}.${dataSource.driver.escape('migrations')}`;
  const [found] = await dataSource.query<{ present: boolean }[]>('SELECT to_regclass($1) IS NOT NULL AS present', [
    table,
  ]);
  const rows = found.present ? await dataSource.query<{ name: string }[]>(`SELECT name FROM ${table}`) : [];
  const applied = new Set(rows.map((r) => r.name));
  return dataSource.migrations.map((m) => m.name ?? m.constructor.name).filter((name) => !applied.has(name));
}
