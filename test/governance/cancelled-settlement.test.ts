import { createHash, randomBytes } from 'node:crypto';
import { GovernanceKeys, QuotaCountersStore } from '@aigw/governance';
import { sleep, waitFor } from '@aigw/testing';
import { Redis } from 'ioredis';
import { REDIS_URL, TestSystem } from '../e2e/harness';

/**
 * Requests whose clients leave at every stage (before the provider's first token, mid-answer, mid-stream), on both
 * wire formats: each is billed at most once (one usage row per request id), and the user's spend counter ends equal to
 * what those rows billed: every reservation settled (or refunded) once, none left reserved or taken off twice.
 */
describe('cancelled requests settle their budget once', () => {
  const sys = new TestSystem({ workers: 1, env: { AUTH_CACHE_TTL_MS: '300' } });
  let redis: Redis;

  beforeAll(async () => {
    await sys.start();
    redis = new Redis(REDIS_URL);
  }, 90_000);

  afterAll(async () => {
    await redis?.quit();
    await sys.stop();
  }, 60_000);

  async function userWithKey(name: string): Promise<{ userId: string; key: string }> {
    const [user] = await sys.query<{ id: string }>('INSERT INTO users (name) VALUES ($1) RETURNING id', [name]);
    const plain = `sk-aigw-${randomBytes(24).toString('base64url')}`;
    await sys.query('INSERT INTO api_keys (user_id, role, key_hash, prefix) VALUES ($1, $2, $3, $4)', [
      user.id,
      'user',
      createHash('sha256').update(plain).digest('hex'),
      plain.slice(0, 16),
    ]);
    await sys.query(`INSERT INTO user_quotas (user_id, tier, daily_spend_limit_usd) VALUES ($1, 'default', 1000)`, [
      user.id,
    ]);
    return { userId: user.id, key: plain };
  }

  it('bills each once and leaves nothing reserved', async () => {
    const { userId, key } = await userWithKey('cancelled-settlement');
    sys.sim.configure({ echo: false, completionTokens: 60, chunkDelayMs: 40, latencyMs: 200 });
    const requestIds: string[] = [];
    const leave = async (
      route: string,
      model: string,
      stream: boolean,
      afterMs: number | 'first-chunk',
    ): Promise<void> => {
      const client = new AbortController();
      const requestId = `cs-${randomBytes(8).toString('hex')}`;
      requestIds.push(requestId);
      const res = await fetch(`${sys.gatewayUrl}${route}`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${key}`,
          'content-type': 'application/json',
          'anthropic-version': '2023-06-01',
          'x-request-id': requestId,
        },
        body: JSON.stringify({
          model,
          max_tokens: 200,
          stream,
          messages: [{ role: 'user', content: `x ${requestId}` }],
        }),
        signal: client.signal,
      }).catch(() => null);
      if (afterMs === 'first-chunk') {
        for await (const _chunk of res!.body as AsyncIterable<Uint8Array>) {
          break;
        }
      } else {
        await sleep(afterMs);
      }
      client.abort();
    };
    const runs: Promise<void>[] = [];
    for (let i = 0; i < 5; i++) {
      for (const [route, model] of [
        ['/v1/chat/completions', 'sim0/sim-gpt'],
        ['/v1/messages', 'sim0-anthropic/sim-claude'],
      ]) {
        runs.push(
          leave(route, model, false, 50),
          leave(route, model, false, 700),
          leave(route, model, true, 'first-chunk'),
          leave(route, model, true, 100),
        );
      }
    }
    await Promise.all(runs);
    await waitFor(() => sys.sim.stats().inFlight === 0, { timeoutMs: 10_000, message: 'provider calls still open' });
    await sleep(3000);
    const rows = await sys.query<{ request_id: string; n: string }>(
      'SELECT request_id, count(*) AS n FROM usage_records WHERE user_id = $1 GROUP BY request_id',
      [userId],
    );
    expect(rows.filter((r) => Number(r.n) > 1)).toEqual([]);
    const [{ spent }] = await sys.query<{ spent: string }>(
      'SELECT coalesce(sum(cost_usd), 0) AS spent FROM usage_records WHERE user_id = $1',
      [userId],
    );
    const counters = new QuotaCountersStore(redis, new GovernanceKeys(sys.prefix));
    const c = await counters.read(userId, Date.now());
    // A request whose job was removed before a worker took it has no row (nothing was called); cut calls are billed.
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.length).toBeLessThanOrEqual(requestIds.length);
    expect(Number(spent)).toBeGreaterThan(0);
    expect(c.dailySpendUsd).toBeCloseTo(Number(spent), 9);
  }, 120_000);
});
