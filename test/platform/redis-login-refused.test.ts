import { closeRedis, createRedis, RedisErrors } from '@aigw/platform';
import { PrivateRedis, waitFor } from '@aigw/testing';

/**
 * A login Redis refuses once the app runs (a password rotated in Redis before the apps): the outage's warning names
 * the variable whose user and password to fix. With the response cache on a Redis of its own (CACHE_REDIS_URL), the
 * line said only "WRONGPASS", and an operator could not tell which Redis refused which URL.
 */
describe("a connection's refused login", () => {
  const password = 'login-right-0123';
  const redis = new PrivateRedis(['--requirepass', password]);

  beforeAll(async () => {
    await redis.start();
  });

  afterAll(async () => {
    await redis.stop();
  });

  it.each([
    ['the main connection', undefined, 'REDIS_URL'],
    ["the response cache's", 'CACHE_REDIS_URL', 'CACHE_REDIS_URL'],
  ])('%s: the warning names its variable, never the password', async (_, variable, named) => {
    const warnings: string[] = [];
    const errors = new RedisErrors({ warn: (m: string) => void warnings.push(m), log: () => undefined });
    const wrong = 'login-wrong-4567';
    const client = createRedis(`redis://:${wrong}@127.0.0.1:${redis.port}/0`, 'test', errors, {
      ...(variable === undefined ? {} : { variable: 'CACHE_REDIS_URL' as const, failFastMs: 250 }),
    });
    try {
      await waitFor(() => warnings.length > 0, { timeoutMs: 10_000, message: 'no warning' });
      expect(warnings[0]).toContain(`Redis refused the login: check the user and password in ${named}`);
      expect(warnings.join('\n')).not.toContain(wrong);
    } finally {
      await closeRedis(client);
    }
  });

  it('an outage of another kind names no variable', async () => {
    const warnings: string[] = [];
    const errors = new RedisErrors({ warn: (m: string) => void warnings.push(m), log: () => undefined });
    const client = createRedis('redis://127.0.0.1:1/0', 'test', errors, { variable: 'CACHE_REDIS_URL' });
    try {
      await waitFor(() => warnings.length > 0, { timeoutMs: 10_000, message: 'no warning' });
      expect(warnings[0]).toMatch(/^Redis unavailable \(connection: .*ECONNREFUSED/);
      expect(warnings[0]).not.toContain('refused the login');
    } finally {
      await closeRedis(client);
    }
  });
});
