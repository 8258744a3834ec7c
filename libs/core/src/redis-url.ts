export interface RedisConnectionOptions {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  tls?: Record<string, never>;
}

/** How to write a password with URL syntax in it (a generated one often has some). */
const ENCODE_HINT = '; percent-encode the characters % @ : / # ? in the user and password, e.g. % as %25, # as %23';

/**
 * Parses `redis://[user:pass@]host:port/db` (or rediss://). The db index is honoured. `variable` names where the URL
 * came from in the errors, which never include the URL itself (it may carry a password).
 */
export function parseRedisUrl(url: string, variable = 'REDIS_URL'): RedisConnectionOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch (err) {
    throw new Error(`${variable} is not a valid URL (expected redis://[user:password@]host:port/db${ENCODE_HINT})`, {
      cause: err,
    });
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new Error(`${variable} must start with redis:// or rediss://, got ${u.protocol}//`);
  }
  const dbPart = u.pathname.replace(/^\//, '');
  const db = dbPart === '' ? 0 : Number(dbPart);
  if (!Number.isInteger(db) || db < 0) {
    throw new Error(`${variable} database index must be a non-negative integer, got "${dbPart}"`);
  }
  const opts: RedisConnectionOptions = { host: u.hostname || '127.0.0.1', port: u.port ? Number(u.port) : 6379, db };
  try {
    if (u.username) {
      opts.username = decodeURIComponent(u.username);
    }
    if (u.password) {
      opts.password = decodeURIComponent(u.password);
    }
  } catch (err) {
    // decodeURIComponent says only "URI malformed": a `%` in a password not followed by two hex digits.
    throw new Error(`${variable}'s user or password is not valid percent-encoding${ENCODE_HINT}`, { cause: err });
  }
  if (u.protocol === 'rediss:') {
    opts.tls = {};
  }
  return opts;
}
