import { createHash, randomBytes } from 'node:crypto';
import { uniqueId } from '@aigw/testing';
import { TestSystem } from './harness';

/**
 * Cache warming under CACHE_SCOPE=user (ADR 0005): every entry is keyed by its user, and a warm call's requests are
 * the admin's own, so it filled only the admin's entries. It answered `warmed` and paid a provider call per request,
 * while every other user's identical request was still a miss. Refused instead, before any job runs.
 */
describe('cache warming under CACHE_SCOPE=user (e2e)', () => {
  const system = new TestSystem({
    workers: 1,
    env: { CACHE_ENABLED: 'true', CACHE_TTL_S: '60', CACHE_SCOPE: 'user' },
  });
  let userKey: string;

  beforeAll(async () => {
    await system.start();
    const [user] = await system.query<{ id: string }>("INSERT INTO users (name) VALUES ('warm-user') RETURNING id");
    userKey = `sk-aigw-${randomBytes(24).toString('base64url')}`;
    await system.query('INSERT INTO api_keys (user_id, role, key_hash, prefix) VALUES ($1, $2, $3, $4)', [
      user.id,
      'user',
      createHash('sha256').update(userKey).digest('hex'),
      userKey.slice(0, 16),
    ]);
  }, 90_000);

  afterAll(() => system.stop(), 30_000);

  const calls = (): number => system.sims.reduce((n, s) => n + s.stats().total, 0);

  it("a warm call is refused (409 naming CACHE_SCOPE) without a provider call: it would fill no one else's entries", async () => {
    const prompt = `warm per user ${uniqueId()}`;
    const before = calls();
    const warm = await fetch(`${system.gatewayUrl}/api/v1/ai/admin/cache/warm`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({ requests: [{ model: 'sim-gpt', messages: [{ role: 'user', content: prompt }] }] }),
    });
    const body = (await warm.json()) as { error?: { code: string; message: string } };
    expect(warm.status).toBe(409);
    expect(body.error?.code).toBe('conflict');
    expect(body.error?.message).toContain('CACHE_SCOPE');
    expect(calls()).toBe(before);

    // What the warm call would have been for: a user's request is answered by a provider, and then cached for them.
    const ask = (): Promise<Response> =>
      fetch(`${system.gatewayUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: system.headers(userKey),
        body: JSON.stringify({ model: 'sim-gpt', messages: [{ role: 'user', content: prompt }] }),
      });
    const first = await ask();
    await first.text();
    expect(first.headers.get('x-gateway-cache')).toBe('miss');
    const second = await ask();
    await second.text();
    expect(second.headers.get('x-gateway-cache')).toBe('hit');
  });
});
