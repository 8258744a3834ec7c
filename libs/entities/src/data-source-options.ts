import { Client, type ClientConfig } from 'pg';
import type { QueryRunner } from 'typeorm';
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
  /** A query without an answer for this long fails and its connection is dropped; 0: none. */
  readTimeoutMs?: number;
}

/**
 * How long a query may go without an answer before its connection is taken for dead (a half-open network: a proxy or
 * NAT that stopped forwarding without closing) and dropped, so the pool opens a new one. Without it such a query
 * waited for good. Far above any query of the apps (usage batches, key lookups, the admin analytics over rollups);
 * migrations, which may wait for the lock or build an index, run without it (`withoutReadTimeout`).
 */
export const DATABASE_READ_TIMEOUT_MS = 30_000;
/** A new connection that has not completed its handshake by then fails (pg's default waits for good). */
const CONNECT_TIMEOUT_MS = 10_000;

/** A pg client whose queries fail, and whose connection is dropped, when no answer comes within `readTimeoutMs`. */
export class ReadTimeoutClient extends Client {
  readTimeoutMs: number;

  constructor(config: ClientConfig & { readTimeoutMs?: number }) {
    super(config);
    this.readTimeoutMs = config.readTimeoutMs ?? 0;
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- pg's overloads (text or config, values, callback) pass through unchanged
  override query(...anyArgs: any[]): any {
    const args: unknown[] = anyArgs;
    const timeoutMs = this.readTimeoutMs;
    if (timeoutMs <= 0) {
      return (super.query as (...a: unknown[]) => unknown)(...args);
    }
    // One timer per query; it ends with the query (an answer, an error, or this timeout).
    const timer = setTimeout(() => this.drop(timeoutMs), timeoutMs);
    const last: unknown = args[args.length - 1];
    if (typeof last === 'function') {
      args[args.length - 1] = (...cb: unknown[]) => {
        clearTimeout(timer);
        (last as (...a: unknown[]) => void)(...cb);
      };
      return (super.query as (...a: unknown[]) => unknown)(...args);
    }
    const result = (super.query as (...a: unknown[]) => unknown)(...args);
    if (result instanceof Promise) {
      result.then(
        () => clearTimeout(timer),
        () => clearTimeout(timer),
      );
    } else {
      // A submittable (cursor, stream): it reports its end itself.
      clearTimeout(timer);
    }
    return result;
  }

  /**
   * Fails every query of the connection with a clear error and drops it: `_ending` (pg's own flag, set by `end()`)
   * keeps the pool from handing it out again when it is released before its socket has closed.
   */
  private drop(timeoutMs: number): void {
    // ETIMEDOUT, as a socket's own timeout: callers tell an unreachable database (a retryable 503) by its code.
    const error = Object.assign(new Error(`no answer from PostgreSQL within ${timeoutMs} ms; connection dropped`), {
      code: 'ETIMEDOUT',
    });
    this.connection.stream.destroy(error);
    this.end().catch(() => undefined);
  }
}

/**
 * Runs `work` on the runner's connection with no read timeout (migrations: a wait for the migration lock or a long
 * index build is no dead connection), then restores it.
 */
export async function withoutReadTimeout<T>(runner: QueryRunner, work: () => Promise<T>): Promise<T> {
  await runner.connect();
  const client: unknown = (runner as { databaseConnection?: unknown }).databaseConnection;
  if (!(client instanceof ReadTimeoutClient)) {
    return work();
  }
  const kept = client.readTimeoutMs;
  client.readTimeoutMs = 0;
  try {
    return await work();
  } finally {
    client.readTimeoutMs = kept;
  }
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
      Client: ReadTimeoutClient,
      readTimeoutMs: config.readTimeoutMs ?? DATABASE_READ_TIMEOUT_MS,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      // A peer that vanished (its host or the network gone) is found by the kernel's probes while idle.
      keepAlive: true,
    },
  };
}
