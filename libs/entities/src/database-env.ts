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
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch (err) {
    throw new Error('DATABASE_URL is not a valid URL (expected postgres://user:password@host:port/database)', {
      cause: err,
    });
  }
  if (protocol !== 'postgres:' && protocol !== 'postgresql:') {
    throw new Error(`DATABASE_URL must start with postgres:// or postgresql:// (got ${protocol}//)`);
  }
  return { url, schema: checkSchemaName(env.DATABASE_SCHEMA) };
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
