import { describeDatabaseError, readDatabaseEnv } from './database-env';

describe('readDatabaseEnv', () => {
  it('reads the URL and the schema', () => {
    expect(readDatabaseEnv({ DATABASE_URL: 'postgres://u:p@h:5432/db', DATABASE_SCHEMA: 'gw' })).toEqual({
      url: 'postgres://u:p@h:5432/db',
      schema: 'gw',
    });
    expect(readDatabaseEnv({ DATABASE_URL: 'postgresql://h/db' }).schema).toBe('public');
  });

  it('falls back to the same local default as the apps', () => {
    expect(readDatabaseEnv({})).toEqual({ url: 'postgres://postgres@127.0.0.1:5432/postgres', schema: 'public' });
  });

  it('explains what is wrong without echoing the URL (it holds a password)', () => {
    expect(() => readDatabaseEnv({ DATABASE_URL: 'not a url with hunter2' })).toThrow(
      /^DATABASE_URL is not a valid URL/,
    );
    expect(() => readDatabaseEnv({ DATABASE_URL: 'mysql://u:hunter2@h/db' })).toThrow(
      'DATABASE_URL must start with postgres:// or postgresql:// (got mysql://)',
    );
    expect(() => readDatabaseEnv({ DATABASE_URL: 'postgres://h/db', DATABASE_SCHEMA: 'Bad' })).toThrow(/schema name/);
    // decodeURIComponent's bare `URI malformed` (with a stack) came out of TypeORM once the tool had started.
    expect(() => readDatabaseEnv({ DATABASE_URL: 'postgres://u:hunter2%zz@h/db' })).toThrow(
      /^DATABASE_URL's user or password is not valid percent-encoding; percent-encode/,
    );
  });
});

describe('describeDatabaseError', () => {
  it('spells out the errors inside an empty AggregateError', () => {
    const err = new AggregateError(
      [new Error('connect ECONNREFUSED ::1:5432'), new Error('connect ECONNREFUSED 127.0.0.1:5432')],
      '',
    );
    expect(describeDatabaseError(err)).toBe('connect ECONNREFUSED ::1:5432; connect ECONNREFUSED 127.0.0.1:5432');
    expect(describeDatabaseError(new Error('boom'))).toBe('boom');
    expect(describeDatabaseError('string')).toBe('unknown error');
  });
});
