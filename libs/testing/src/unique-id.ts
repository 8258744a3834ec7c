import { randomBytes } from 'node:crypto';

const PREFIX = /^[a-z][a-z0-9_]{0,39}$/;

/**
 * `${prefix}_<12 random hex chars>`: lowercase letters, digits and underscores only, starting
 * with a letter, so it is valid unquoted as a PostgreSQL schema name, a Redis key prefix and a
 * BullMQ queue name (which must not contain ':').
 */
export function uniqueId(prefix = 't'): string {
  if (!PREFIX.test(prefix)) {
    throw new RangeError(`uniqueId prefix must match ${PREFIX.source}, got "${prefix}"`);
  }
  return `${prefix}_${randomBytes(6).toString('hex')}`;
}
