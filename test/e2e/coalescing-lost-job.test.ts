import { createHash, randomBytes } from 'node:crypto';
import { cacheKeyOf } from '@aigw/core';
import { GovernanceKeys, QuotaCountersStore } from '@aigw/governance';
import { uniqueId, waitFor } from '@aigw/testing';
import { Redis } from 'ioredis';
import { REDIS_URL, TestSystem } from './harness';

/**
 * An in-flight marker (ADR 0007) whose job no longer exists: its leader's gateway died between `join` and the
 * enqueue, the enqueue and the release both failed, or an admin removed the job from the queue. Every identical
 * request joined it, waited for the job to be confirmed missing and was answered 503 "job was lost; retry", and so
 * was every retry, for the marker's whole TTL (the leader's deadline plus 30 s). A waiter that finds the job lost now
 * releases the marker (only while it still names that job), and a follower then runs a job of its own instead of
 * answering the error: nothing stood in the way of answering it.
 */
describe('coalescing: a marker whose job is gone (e2e)', () => {
  const system = new TestSystem({ workers: 1, env: { CACHE_ENABLED: 'true', CACHE_TTL_S: '60' } });
  const redis = new Redis(REDIS_URL);

  beforeAll(() => system.start(), 90_000);

  afterAll(async () => {
    await system.stop();
    await redis.quit();
  }, 30_000);

  function chat(prompt: string, headers = system.headers()): Promise<Response> {
    return fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ model: 'sim-gpt', messages: [{ role: 'user', content: prompt }] }),
    });
  }

  /** What a leader that died before its job was queued leaves behind, under the coalescing key `key`. */
  async function ghostMarker(key: string): Promise<void> {
    const marker = `${system.prefix}:inflight:${key}.whole`;
    await redis.hset(marker, 'job', `ghost-${uniqueId()}`, 'n', 1);
    await redis.pexpire(marker, 120_000);
  }

  it('a request that finds the job lost runs a job of its own and releases the marker', async () => {
    const prompt = `ghost leader ${uniqueId()}`;
    // The request's cache key as the gateway computes it (admin key: unrestricted, no preferences, global scope).
    const key = cacheKeyOf(
      {
        model: 'sim-gpt',
        messages: [{ role: 'user', content: prompt }],
        options: {},
        userId: '',
        apiKeyId: '',
      } as unknown as Parameters<typeof cacheKeyOf>[0],
      'global',
    );
    await ghostMarker(key);
    const calls = system.sim.stats().total;

    const first = await chat(prompt);
    expect(first.status).toBe(200);
    // It led its own job: a provider call, billed as its own.
    expect(first.headers.get('x-gateway-coalesced')).toBeNull();
    expect(first.headers.get('x-gateway-cache')).toBe('miss');
    expect(Number(first.headers.get('x-gateway-cost-usd'))).toBeGreaterThan(0);
    await first.text();
    expect(system.sim.stats().total).toBe(calls + 1);

    const again = await chat(prompt);
    expect(again.status).toBe(200);
    expect(again.headers.get('x-gateway-cache')).toBe('hit');
    await again.text();
    expect(await redis.exists(`${system.prefix}:inflight:${key}.whole`)).toBe(0);
  }, 40_000);

  it('a budgeted follower that runs its own job is charged once, by that job', async () => {
    const [user] = await system.query<{ id: string }>('INSERT INTO users (name) VALUES ($1) RETURNING id', [
      `ghost-budget-${uniqueId()}`,
    ]);
    const plain = `sk-aigw-${randomBytes(24).toString('base64url')}`;
    await system.query('INSERT INTO api_keys (user_id, role, key_hash, prefix) VALUES ($1, $2, $3, $4)', [
      user.id,
      'user',
      createHash('sha256').update(plain).digest('hex'),
      plain.slice(0, 16),
    ]);
    await system.query(`INSERT INTO user_quotas (user_id, tier, daily_spend_limit_usd) VALUES ($1, 'default', $2)`, [
      user.id,
      10,
    ]);
    const headers = system.headers(plain);
    const prompt = `ghost budget ${uniqueId()}`;
    // Once, for the request's cache key (a budgeted request's options carry the capped max_tokens): its cache entry.
    const entriesBefore = new Set(await redis.keys(`${system.prefix}:cache:*`));
    const first = await chat(prompt, headers);
    expect(first.status).toBe(200);
    await first.text();
    const entry = await waitFor(async () =>
      (await redis.keys(`${system.prefix}:cache:*`)).find((k) => !entriesBefore.has(k) && /[0-9a-f]{64}$/.test(k)),
    );
    // The answer is not stored yet, and an identical request is in flight under a job that is gone.
    await redis.del(entry);
    await ghostMarker(entry.slice(-64));

    const follower = await chat(prompt, headers);
    expect(follower.status).toBe(200);
    expect(follower.headers.get('x-gateway-coalesced')).toBeNull();
    await follower.text();

    const rows = await waitFor(async () => {
      const found = await system.query<{ cost_usd: string; cached: boolean }>(
        'SELECT cost_usd, cached FROM usage_records WHERE user_id = $1',
        [user.id],
      );
      return found.length === 2 ? found : null;
    });
    expect(rows.every((r) => !r.cached && Number(r.cost_usd) > 0)).toBe(true);
    const spent = rows.reduce((sum, r) => sum + Number(r.cost_usd), 0);
    // Every reservation settled to what was spent: the follower's was neither given back nor left charged.
    const counters = new QuotaCountersStore(redis, new GovernanceKeys(system.prefix));
    await waitFor(
      async () => Math.abs((await counters.read(user.id, Date.now())).dailySpendUsd - spent) < 1e-9 || null,
      { timeoutMs: 10_000, message: 'the daily spend counter is not what the two requests spent' },
    );
  }, 40_000);
});
