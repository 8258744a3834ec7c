import { createHash, randomBytes } from 'node:crypto';
import { GovernanceKeys, QuotaCountersStore } from '@aigw/governance';
import { uniqueId, waitFor } from '@aigw/testing';
import { Redis } from 'ioredis';
import { REDIS_URL, TestSystem } from './harness';

/** Every request's deadline in this suite: REQUEST_TIMEOUT_MS from its own arrival. */
const TIMEOUT_MS = 4_000;
/** How long after the leader the follower arrives: its own deadline lies this much later than the leader's. */
const FOLLOWER_LAG_MS = 2_000;

/**
 * A coalesced follower (ADR 0007) does not inherit the leader's deadline. It joins a call that runs under the leader's
 * deadline; when that passes first, the follower (which still has time of its own) runs a call of its own within its
 * own deadline. Before, it was answered the leader's 504 at the leader's deadline, half its own time still left.
 */
describe("coalescing: a follower is not bound by the leader's deadline (e2e)", () => {
  const system = new TestSystem({
    workers: 1,
    env: { CACHE_ENABLED: 'true', CACHE_TTL_S: '60', REQUEST_TIMEOUT_MS: String(TIMEOUT_MS) },
  });
  const redis = new Redis(REDIS_URL);

  beforeAll(() => system.start(), 90_000);

  afterAll(async () => {
    await system.stop();
    await redis.quit();
  }, 30_000);

  function chat(prompt: string, stream = false, headers = system.headers()): Promise<Response> {
    return fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ model: 'sim-gpt', messages: [{ role: 'user', content: prompt }], stream }),
    });
  }

  /** `n` requests wait for one provider call: its in-flight marker's count. */
  const waiting = (n: number): Promise<boolean> =>
    waitFor(
      async () => {
        const markers = await redis.keys(`${system.prefix}:inflight:*`);
        const counts = await Promise.all(markers.map((m) => redis.hget(m, 'n')));
        return counts.some((c) => Number(c) === n);
      },
      { timeoutMs: 5_000, intervalMs: 20, message: `never ${n} waiting for one call` },
    );

  it("a budgeted follower that runs on its own is charged once, by its own call; the leader's cut call by its own", async () => {
    const [user] = await system.query<{ id: string }>('INSERT INTO users (name) VALUES ($1) RETURNING id', [
      `deadline-budget-${uniqueId()}`,
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
    system.sim.reset();
    system.sim.configure({ latencyMs: 30_000, chunkDelayMs: 0 });
    const prompt = `leader deadline budget ${uniqueId()}`;
    const leaderAt = Date.now();
    const leader = chat(prompt, false, headers);
    await waitFor(() => system.sim.stats().inFlight === 1, { timeoutMs: 5_000, intervalMs: 20 });
    system.sim.configure({ latencyMs: 0 });
    await new Promise((r) => setTimeout(r, leaderAt + FOLLOWER_LAG_MS - Date.now()));
    const follower = chat(prompt, false, headers);
    await waiting(2);
    expect((await leader).status).toBe(504);
    const followed = await follower;
    expect(followed.status).toBe(200);
    await followed.text();

    const rows = await waitFor(async () => {
      const found = await system.query<{ status: string; cost_usd: string }>(
        'SELECT status, cost_usd FROM usage_records WHERE user_id = $1',
        [user.id],
      );
      return found.length === 2 ? found : null;
    });
    const spent = rows.reduce((sum, r) => sum + Number(r.cost_usd), 0);
    expect(spent).toBeGreaterThan(0);
    // Every reservation settled to what was spent: the follower's neither given back nor left charged, nor twice.
    const counters = new QuotaCountersStore(redis, new GovernanceKeys(system.prefix));
    await waitFor(
      async () => Math.abs((await counters.read(user.id, Date.now())).dailySpendUsd - spent) < 1e-9 || null,
      { timeoutMs: 10_000, message: 'the daily spend counter is not what the two requests spent' },
    );
  }, 30_000);

  for (const stream of [false, true]) {
    it(`a ${stream ? 'streamed' : 'whole'} follower whose leader times out runs on its own, within its own deadline`, async () => {
      system.sim.reset();
      // The leader's call outlasts its deadline; calls made after it answer at once.
      system.sim.configure({ latencyMs: 30_000, chunkDelayMs: 0 });
      const prompt = `leader deadline ${stream} ${uniqueId()}`;
      const leaderAt = Date.now();
      const leader = chat(prompt, stream);
      await waitFor(() => system.sim.stats().inFlight === 1, { timeoutMs: 5_000, intervalMs: 20 });
      system.sim.configure({ latencyMs: 0 });
      await new Promise((r) => setTimeout(r, leaderAt + FOLLOWER_LAG_MS - Date.now()));
      const followerAt = Date.now();
      const follower = chat(prompt, stream);
      await waiting(2);

      const led = await leader;
      expect(led.status).toBe(504);
      await led.text();

      const followed = await follower;
      const body = await followed.text();
      expect(followed.status).toBe(200);
      // It led a call of its own: not a share of the leader's.
      expect(followed.headers.get('x-gateway-coalesced')).toBeNull();
      if (!stream) {
        // (A stream's headers go before its cost is known: its usage row below says it.)
        expect(Number(followed.headers.get('x-gateway-cost-usd'))).toBeGreaterThan(0);
      }
      expect(body).toContain(stream ? 'data: [DONE]' : prompt);
      expect(Date.now() - followerAt).toBeLessThan(TIMEOUT_MS);
      // The leader's call (cut at its deadline) and the follower's own.
      expect(system.sim.stats().total).toBe(2);

      // Billed once, as its own call: one row, not cached, with the call's cost.
      const rows = await waitFor(async () => {
        const found = await system.query<{ status: string; cached: boolean; cost_usd: string }>(
          'SELECT status, cached, cost_usd FROM usage_records WHERE request_id = $1',
          [followed.headers.get('x-request-id')],
        );
        return found.length > 0 ? found : null;
      });
      await new Promise((r) => setTimeout(r, 500));
      expect(
        await system.query('SELECT 1 FROM usage_records WHERE request_id = $1', [followed.headers.get('x-request-id')]),
      ).toHaveLength(1);
      expect(rows[0]).toMatchObject({ status: 'success', cached: false });
      expect(Number(rows[0].cost_usd)).toBeGreaterThan(0);
    }, 30_000);
  }
});
