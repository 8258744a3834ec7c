import { InvalidEnvironmentError, parseRedisUrl, validateEnv } from '@aigw/core';
import { BaseEnv, withRedisPassword } from './base-env';

function problem(env: Record<string, string>): string {
  try {
    validateEnv(BaseEnv, env);
  } catch (err) {
    if (err instanceof InvalidEnvironmentError) {
      return err.message;
    }
    throw err;
  }
  return '';
}

describe('BaseEnv', () => {
  it('keeps usage for good by default, and refuses a retention that deletes what the gateway reads back', () => {
    const env = validateEnv(BaseEnv, {});
    expect([env.USAGE_RETENTION_DAYS, env.USAGE_HOURLY_RETENTION_DAYS, env.USAGE_DAILY_RETENTION_DAYS]).toEqual([
      0, 0, 0,
    ]);
    expect(problem({ USAGE_RETENTION_DAYS: '31', USAGE_HOURLY_RETENTION_DAYS: '90' })).toBe('');
    expect(
      problem({ USAGE_RETENTION_DAYS: '31', USAGE_HOURLY_RETENTION_DAYS: '31', USAGE_DAILY_RETENTION_DAYS: '400' }),
    ).toBe('');
    // The quota counters are rebuilt from the current month of usage_records.
    const short = problem({ USAGE_RETENTION_DAYS: '7' });
    expect(short).toContain('USAGE_RETENTION_DAYS: 7 days would delete usage the gateway still reads');
    expect(short).toContain('at least 31');
    expect(problem({ USAGE_RETENTION_DAYS: '90', USAGE_HOURLY_RETENTION_DAYS: '1' })).toContain(
      'USAGE_HOURLY_RETENTION_DAYS: 1 days would delete',
    );
    // Ranges past the raw retention are read from the rollups: each coarser level outlives the finer one.
    expect(problem({ USAGE_RETENTION_DAYS: '90', USAGE_HOURLY_RETENTION_DAYS: '60' })).toContain(
      'USAGE_HOURLY_RETENTION_DAYS: 60 days is shorter than USAGE_RETENTION_DAYS (90)',
    );
    expect(problem({ USAGE_HOURLY_RETENTION_DAYS: '60' })).toContain(
      'USAGE_HOURLY_RETENTION_DAYS: 60 days is shorter than USAGE_RETENTION_DAYS (0: for good)',
    );
    expect(
      problem({ USAGE_HOURLY_RETENTION_DAYS: '60', USAGE_RETENTION_DAYS: '40', USAGE_DAILY_RETENTION_DAYS: '50' }),
    ).toContain('USAGE_DAILY_RETENTION_DAYS: 50 days is shorter than USAGE_HOURLY_RETENTION_DAYS (60)');
    // One line per problem, on the variable it names.
    expect(problem({ USAGE_RETENTION_DAYS: '90', USAGE_HOURLY_RETENTION_DAYS: '60' }).split('\n')).toHaveLength(2);
    expect(problem({ USAGE_RETENTION_DAYS: 'week' })).toContain('USAGE_RETENTION_DAYS: must be a number');
  });

  it('reads the usual words for a boolean, and refuses any other naming the variable', () => {
    for (const [text, value] of [
      ['true', true],
      ['ON', true],
      ['1', true],
      ['no', false],
      ['False', false],
      ['0', false],
    ] as const) {
      expect(validateEnv(BaseEnv, { DB_SKIP_MIGRATIONS: text }).DB_SKIP_MIGRATIONS).toBe(value);
    }
    expect(validateEnv(BaseEnv, {}).DB_SKIP_MIGRATIONS).toBe(false);
    expect(problem({ DB_SKIP_MIGRATIONS: 'ture' })).toContain('DB_SKIP_MIGRATIONS must be a boolean value');
  });

  it('checks SECRETS_KEY with the rest, without echoing it', () => {
    expect(problem({ SECRETS_KEY: 'a'.repeat(64) })).toBe('');
    const message = problem({ SECRETS_KEY: 'notvalid-secret-text' });
    expect(message).toContain('SECRETS_KEY must be 32 bytes');
    expect(message).not.toContain('notvalid-secret-text');
  });

  it('requires SECRETS_KEY in production with the rest, before anything connects (the catalog found out after migrating)', () => {
    expect(problem({ NODE_ENV: 'production' })).toBe(
      'Invalid environment variables:\n  - SECRETS_KEY: SECRETS_KEY is required when NODE_ENV=production: set it to 32 bytes given as 64 hex characters or as base64 (e.g. `openssl rand -base64 32`)',
    );
    expect(problem({ NODE_ENV: 'production', SECRETS_KEY: '  ' })).toContain('SECRETS_KEY is required');
    expect(problem({ NODE_ENV: 'production', SECRETS_KEY: 'a'.repeat(64) })).toBe('');
    expect(problem({ NODE_ENV: 'production', SECRETS_KEY: 'notvalid-secret-text' })).toContain(
      'SECRETS_KEY: SECRETS_KEY must be 32 bytes',
    );
    expect(problem({})).toBe('');
  });

  it('checks SECRETS_KEY_PREVIOUS (comma-separated keys) with the rest, without echoing it', () => {
    expect(problem({ SECRETS_KEY_PREVIOUS: `${'a'.repeat(64)}, ${'b'.repeat(64)}` })).toBe('');
    const message = problem({ SECRETS_KEY_PREVIOUS: `${'a'.repeat(64)},notvalid-secret-text` });
    expect(message).toContain('SECRETS_KEY_PREVIOUS: SECRETS_KEY_PREVIOUS must list keys separated by commas');
    expect(message).toContain('key 2 of 2 is not one');
    expect(message).not.toContain('notvalid-secret-text');
    expect(message).not.toContain('a'.repeat(64));
  });

  it('takes a blank value as unset, like an empty one: `PORT=" "` was port 0, a random one', () => {
    expect(validateEnv(BaseEnv, { USAGE_LINGER_MS: ' ' }).USAGE_LINGER_MS).toBe(20);
    expect(validateEnv(BaseEnv, { USAGE_LINGER_MS: '\t' }).USAGE_LINGER_MS).toBe(20);
    expect(validateEnv(BaseEnv, { USAGE_LINGER_MS: '' }).USAGE_LINGER_MS).toBe(20);
  });

  it('says a number is no number, without its range messages', () => {
    expect(problem({ USAGE_LINGER_MS: 'abc' })).toBe(
      'Invalid environment variables:\n  - USAGE_LINGER_MS: must be a number, got "abc"',
    );
    expect(problem({ USAGE_LINGER_MS: '5000' })).toContain('USAGE_LINGER_MS: USAGE_LINGER_MS must not be greater');
  });

  it('reads numbers written as plain decimals only: `1e3` was 1000 and `0x1F` 31', () => {
    for (const text of ['1e3', '0x1F', '0o17', '0b11', 'Infinity', '1_000']) {
      expect(problem({ USAGE_LINGER_MS: text })).toMatch(
        new RegExp(
          `^Invalid environment variables:\\n  - USAGE_LINGER_MS: must (be a plain decimal number|be a number), got "${text}"$`,
        ),
      );
    }
    expect(problem({ USAGE_LINGER_MS: '1e3' })).toContain('must be a plain decimal number');
    expect(problem({ USAGE_LINGER_MS: '0x1F' })).toContain('must be a plain decimal number');
    expect(validateEnv(BaseEnv, { USAGE_LINGER_MS: ' 50 ' }).USAGE_LINGER_MS).toBe(50);
    expect(validateEnv(BaseEnv, { USAGE_LINGER_MS: '+7' }).USAGE_LINGER_MS).toBe(7);
  });

  it('trims DATABASE_URL, as the CLIs do: a trailing space or newline became part of the database name', () => {
    for (const url of ['postgres://u@db:5432/app ', 'postgres://u@db:5432/app\n', '\tpostgres://u@db:5432/app']) {
      expect(validateEnv(BaseEnv, { DATABASE_URL: url }).DATABASE_URL).toBe('postgres://u@db:5432/app');
    }
  });

  it('refuses a DATABASE_URL TypeORM or pg could not open, naming the variable and never echoing the URL', () => {
    // A lone `%` in the password was TypeORM's `URIError: URI malformed`, with a stack, once Redis had connected.
    const bad = problem({ DATABASE_URL: 'postgres://u:s3cret%ZZ@127.0.0.1:5432/db' });
    expect(bad).toBe(
      "Invalid environment variables:\n  - DATABASE_URL: DATABASE_URL's user or password is not valid percent-encoding; " +
        'percent-encode the characters % @ : / # ? in the user and password, e.g. % as %25, # as %23',
    );
    const noPort = problem({ DATABASE_URL: 'postgres://u:s3cret@127.0.0.1:notaport/db' });
    expect(noPort).toContain('DATABASE_URL: DATABASE_URL is not a valid URL');
    expect(problem({ DATABASE_URL: 'mysql://u:s3cret@h/db' })).toContain(
      'DATABASE_URL must start with postgres:// or postgresql://',
    );
    for (const message of [bad, noPort]) {
      expect(message).not.toContain('s3cret');
    }
    expect(problem({ DATABASE_URL: 'postgresql://u:p%25ss@db.example:6432/app?sslmode=require' })).toBe('');
  });

  it('refuses a Redis URL the apps could not open, naming the variable and never echoing the URL', () => {
    const message = problem({ REDIS_URL: 'redis://:s3cret@127.0.0.1:notaport' });
    expect(message).toBe(
      'Invalid environment variables:\n  - REDIS_URL: REDIS_URL is not a valid URL (expected redis://[user:password@]host:port/db; ' +
        'percent-encode the characters % @ : / # ? in the user and password, e.g. % as %25, # as %23)',
    );
    expect(problem({ CACHE_REDIS_URL: 'redis://127.0.0.1:6379/x' })).toContain(
      'CACHE_REDIS_URL database index must be a non-negative integer',
    );
    expect(problem({ REDIS_URL: 'http://127.0.0.1:6379' })).toContain('REDIS_URL must start with redis://');
    expect(problem({ REDIS_URL: 'rediss://u:p@redis.example:6380/3' })).toBe('');
  });

  it('puts REDIS_PASSWORD into a REDIS_URL without one (k8s/ holds it once), and refuses a URL with another', () => {
    const login = (env: Record<string, string>): { url: string; problem: string | null } => {
      const read = validateEnv(BaseEnv, env);
      const problem = withRedisPassword(read);
      return { url: read.REDIS_URL, problem };
    };
    const withIt = login({ REDIS_URL: 'redis://redis:6379/2', REDIS_PASSWORD: 'p@ss:w/rd%#?' });
    expect(withIt.problem).toBeNull();
    // Percent-encoded in the URL, read back as it was; the database index and the address kept.
    expect(parseRedisUrl(withIt.url)).toEqual({ host: 'redis', port: 6379, db: 2, password: 'p@ss:w/rd%#?' });
    // A user the URL names (an ACL user) logs in as that user.
    expect(parseRedisUrl(login({ REDIS_URL: 'rediss://aigw@r.example:6380/0', REDIS_PASSWORD: 'x' }).url)).toEqual({
      host: 'r.example',
      port: 6380,
      db: 0,
      username: 'aigw',
      password: 'x',
      tls: {},
    });
    // Unset, or blank (a Secret's empty key): the URL as it is.
    expect(login({ REDIS_URL: 'redis://redis:6379/0' }).url).toBe('redis://redis:6379/0');
    expect(login({ REDIS_URL: 'redis://redis:6379/0', REDIS_PASSWORD: ' ' }).url).toBe('redis://redis:6379/0');
    // The same one in both (compose's URL, an upgraded k8s Secret that still has its REDIS_URL): fine.
    expect(login({ REDIS_URL: 'redis://:same@redis:6379/0', REDIS_PASSWORD: 'same' })).toEqual({
      url: 'redis://:same@redis:6379/0',
      problem: null,
    });
    const other = login({ REDIS_URL: 'redis://:old-one@redis:6379/0', REDIS_PASSWORD: 'new-one' });
    expect(other.problem).toBe(
      'REDIS_URL carries a password other than REDIS_PASSWORD: give it in one of them (or the same in both)',
    );
    expect(other.problem).not.toMatch(/old-one|new-one/);
  });
});
