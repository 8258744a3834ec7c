import { createHash, randomBytes } from 'node:crypto';
import { PrivateRedis } from '@aigw/testing';
import { TestSystem } from '../e2e/harness';

/**
 * ADR 0004: with Redis unreachable, admission fails closed (503 with Retry-After, never an unchecked spend),
 * and after Redis returns (AOF) the counters still hold what was spent before.
 */
describe('admission while Redis is unreachable', () => {
  const redis = new PrivateRedis();
  let sys: TestSystem;
  let key = '';

  beforeAll(async () => {
    await redis.start();
    sys = new TestSystem({ workers: 1, env: { REDIS_URL: redis.url } });
    await sys.start();
    const [user] = await sys.query<{ id: string }>(`INSERT INTO users (name) VALUES ('limited') RETURNING id`);
    key = `sk-aigw-${randomBytes(24).toString('base64url')}`;
    await sys.query('INSERT INTO api_keys (user_id, role, key_hash, prefix) VALUES ($1, $2, $3, $4)', [
      user.id,
      'user',
      createHash('sha256').update(key).digest('hex'),
      key.slice(0, 16),
    ]);
    await sys.query(`INSERT INTO user_quotas (user_id, tier, daily_request_limit) VALUES ($1, 'default', 3)`, [
      user.id,
    ]);
  }, 60_000);

  afterAll(async () => {
    await sys?.stop();
    await redis.stop();
  }, 60_000);

  const chat = (content: string): Promise<Response> =>
    fetch(`${sys.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'sim0/sim-gpt', messages: [{ role: 'user', content }] }),
    });

  it('answers 503 with Retry-After while Redis is down, and keeps the counts across its restart', async () => {
    expect((await chat('one')).status).toBe(200);
    expect((await chat('two')).status).toBe(200);
    await redis.kill();
    const down = await chat('while down');
    expect(down.status).toBe(503);
    expect(Number(down.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await down.json()) as { error: { code: string } }).error.code).toBe('service_unavailable');
    // The usage report reads the quota counters from Redis: a 503 to retry, not a 500 (it was "Internal error.").
    const usage = await fetch(`${sys.gatewayUrl}/api/v1/ai/usage`, { headers: { authorization: `Bearer ${key}` } });
    expect(usage.status).toBe(503);
    expect(Number(usage.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await usage.json()).toEqual({
      error: {
        message: 'Redis is unavailable; retry shortly.',
        type: 'service_unavailable_error',
        code: 'service_unavailable',
        param: null,
      },
    });
    await redis.start();
    // The gateway reconnects within about a second; the third request of the day is the last one allowed.
    let third: Response | undefined;
    for (let i = 0; i < 50; i++) {
      third = await chat('three');
      if (third.status !== 503) {
        break;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(third?.status).toBe(200);
    const fourth = await chat('four');
    expect(fourth.status).toBe(429);
    expect(((await fourth.json()) as { error: { code: string } }).error.code).toBe('quota_exceeded');
  }, 60_000);
});
