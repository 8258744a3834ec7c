import { DEFAULT_DATABASE_URL } from '@aigw/core';
import { checkSchemaName } from './schema-name';

export interface DatabaseEnv {
  url: string;
  schema: string;
}

/**
 * DATABASE_URL and DATABASE_SCHEMA for the command-line tools (apps validate their env at
 * boot). Messages never include the URL: it usually carries a password.
 */
export function readDatabaseEnv(env: Record<string, string | undefined>): DatabaseEnv {
  // Unset means the same local default as the apps, so the CLIs work right after `npm start`.
  const url = env.DATABASE_URL?.trim() || DEFAULT_DATABASE_URL;
  checkDatabaseUrl(url);
  return { url, schema: checkSchemaName(env.DATABASE_SCHEMA) };
}

const ENCODE_HINT = '; percent-encode the characters % @ : / # ? in the user and password, e.g. % as %25, # as %23';

/**
 * Throws naming what is wrong with a DATABASE_URL that TypeORM and pg could not open, never echoing it (it usually
 * carries a password). Checked at boot with the rest of the environment: a `%` not followed by two hex digits in the
 * password made TypeORM's `decodeURIComponent` throw `URIError: URI malformed`, with a stack, once Redis had connected.
 */
export function checkDatabaseUrl(url: string): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch (err) {
    throw new Error(
      `DATABASE_URL is not a valid URL (expected postgres://user:password@host:port/database${ENCODE_HINT})`,
      { cause: err },
    );
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw new Error(`DATABASE_URL must start with postgres:// or postgresql:// (got ${u.protocol}//)`);
  }
  try {
    decodeURIComponent(u.username);
    decodeURIComponent(u.password);
  } catch (err) {
    throw new Error(`DATABASE_URL's user or password is not valid percent-encoding${ENCODE_HINT}`, { cause: err });
  }
}

/**
 * One line for a failed database operation. Connection failures arrive as an AggregateError
 * with an empty message (one error per address tried), so the inner errors are spelled out.
 */
export function describeDatabaseError(err: unknown): string {
  if (err instanceof AggregateError && err.message === '') {
    return err.errors.map((e: unknown) => describeDatabaseError(e)).join('; ');
  }
  if (err instanceof Error) {
    return err.message || err.name;
  }
  return 'unknown error';
}

/**
 * Socket errors of a connection to PostgreSQL, and its own codes for a server that is not there (yet): class 08
 * (connection exception), 57P01-57P03 (shutting down, starting up), 53300 (at its connection limit, the server's or
 * the role's: there, but not for another connection now). Only the error itself, TypeORM's `driverError`
 * and an AggregateError's members (one per address tried) count: a provider call's fetch failure carries its
 * ECONNREFUSED as a `cause`, and is no database's.
 */
const DATABASE_DOWN_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EPIPE',
  '57P01',
  '57P02',
  '57P03',
  '53300',
]);

/** pg's own messages for a connection that ended or never came (they have no code). */
const DATABASE_DOWN_MESSAGE =
  /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection is not established)/;

/** Whether `err` says PostgreSQL cannot be reached (a connection failure of pg, raw or wrapped by TypeORM). */
export function databaseUnavailable(err: unknown, depth = 0): boolean {
  if (depth > 3 || typeof err !== 'object' || err === null) {
    return false;
  }
  if (err instanceof AggregateError && err.errors.some((e) => databaseUnavailable(e, depth + 1))) {
    return true;
  }
  const { code, message, driverError } = err as { code?: unknown; message?: unknown; driverError?: unknown };
  if (typeof code === 'string' && (DATABASE_DOWN_CODES.has(code) || code.startsWith('08'))) {
    return true;
  }
  if (typeof message === 'string' && DATABASE_DOWN_MESSAGE.test(message)) {
    return true;
  }
  return driverError !== undefined && databaseUnavailable(driverError, depth + 1);
}
