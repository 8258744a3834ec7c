import { createHash } from 'node:crypto';

// Lower case only: PostgreSQL folds unquoted identifiers (as in search_path) to lower case,
// while TypeORM quotes the schema; mixed case would name two different schemas.
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export const DEFAULT_SCHEMA = 'public';

/** Validates a PostgreSQL schema name (it ends up in SQL and in the search_path option). */
export function checkSchemaName(schema: string | undefined): string {
  const name = schema === undefined || schema === '' ? DEFAULT_SCHEMA : schema;
  if (!SCHEMA_NAME.test(name)) {
    throw new Error(
      `invalid database schema name '${name}': use 1-63 lower-case letters, digits or '_', not starting with a digit`,
    );
  }
  return name;
}

/**
 * A pg advisory lock key (signed 64-bit, as text) for one purpose in one schema, so that
 * deployments sharing a database in different schemas do not wait on each other.
 */
export function advisoryLockKey(purpose: string, schema: string): string {
  const digest = createHash('sha256').update(`aigw:${purpose}:${schema}`).digest();
  return digest.readBigInt64BE(0).toString();
}
