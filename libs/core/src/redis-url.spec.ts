import { parseRedisUrl } from './redis-url';

describe('parseRedisUrl', () => {
  it('reads a user, a percent-encoded password, TLS and the database index', () => {
    expect(parseRedisUrl('rediss://app:p%40ss%25w%23rd@redis.internal:6380/2')).toEqual({
      host: 'redis.internal',
      port: 6380,
      db: 2,
      username: 'app',
      password: 'p@ss%w#rd',
      tls: {},
    });
  });

  it('says how to encode a password whose % is not percent-encoding, without the password', () => {
    expect(() => parseRedisUrl('redis://app:50%off@h:6379/1')).toThrow(
      /^REDIS_URL's user or password is not valid percent-encoding; percent-encode .* % as %25/,
    );
    expect(() => parseRedisUrl('redis://app:50%off@h:6379/1')).not.toThrow(/50%off/);
  });

  it('names the encoding as the likely fault of a URL that does not parse', () => {
    expect(() => parseRedisUrl('redis://:a/b#c@h:6379/1', 'CACHE_REDIS_URL')).toThrow(
      /^CACHE_REDIS_URL is not a valid URL \(expected .*; percent-encode/,
    );
  });
});
