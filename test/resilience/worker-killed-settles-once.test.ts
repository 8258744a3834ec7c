import { createHash, randomBytes } from 'node:crypto';
import { GovernanceKeys, QuotaCountersStore } from '@aigw/governance';
import { waitFor } from '@aigw/testing';
import { Redis } from 'ioredis';
import { REDIS_URL, TestSystem } from '../e2e/harness';

/**
 * A worker SIGKILLed while its job is at the provider, for a user with a daily spend limit: another worker takes the
 * stalled job over and answers. The request is answered once, recorded once, and its admission's reservation settled
 * once, to the cost of the answer: the user's spend counter then equals the usage rows' sum, neither the worst case
 * reserved for it nor twice the cost. Split topology: the worker dies alone, the gateway keeps waiting.
 */
describe('a worker killed mid-generation, for a user with a spend limit', () => {
  const sys = new TestSystem({
    topology: 'split',
    workers: 1,
    env: { WORKER_LOCK_MS: '1000', WORKER_STALLED_INTERVAL_MS: '500', REQUEST_TIMEOUT_MS: '60000' },
  });
  let redis: Redis;

  beforeAll(async () => {
    await sys.start();
    redis = new Redis(REDIS_URL);
  }, 90_000);

  afterAll(async () => {
    await redis?.quit();
    await sys.stop();
  }, 30_000);

  async function limitedUser(name: string): Promise<{ userId: string; key: string }> {
    const [user] = await sys.query<{ id: string }>('INSERT INTO users (name) VALUES ($1) RETURNING id', [name]);
    const key = `sk-aigw-${randomBytes(24).toString('base64url')}`;
    await sys.query('INSERT INTO api_keys (user_id, role, key_hash, prefix) VALUES ($1, $2, $3, $4)', [
      user.id,
      'user',
      createHash('sha256').update(key).digest('hex'),
      key.slice(0, 16),
    ]);
    await sys.query(
      `INSERT INTO user_quotas (user_id, tier, daily_spend_limit_usd, daily_request_limit) VALUES ($1, 'default', 1, 1000)`,
      [user.id],
    );
    return { userId: user.id, key };
  }

  it.each([false, true])(
    'answers once, records once, settles once (stream: %s)',
    async (stream) => {
      const { userId, key } = await limitedUser(`limited-${String(stream)}`);
      sys.sim.reset();
      // Long enough that the victim still waits for it however slowly the survivor boots.
      sys.sim.configure({ latencyMs: 60_000, echo: true, chunkDelayMs: 0 });
      const [victim] = sys.workers();
      const answer = fetch(`${sys.gatewayUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: sys.headers(key),
        body: JSON.stringify({
          model: 'sim0/sim-gpt',
          stream,
          max_tokens: 500,
          messages: [{ role: 'user', content: `survive a crash ${String(stream)}` }],
        }),
      }).then(async (r) => ({ status: r.status, text: await r.text(), requestId: r.headers.get('x-request-id') }));
      await waitFor(() => sys.sim.stats().inFlight === 1, { timeoutMs: 10_000, message: 'not at the provider' });

      const survivor = await sys.addReplica('router-worker');
      sys.sim.configure({ latencyMs: 0 });
      victim.child.kill('SIGKILL');
      await victim.exited;

      const res = await answer;
      expect(res.status).toBe(200);
      // A stream's text is the deltas' (its chunks all of one run: none went out before the victim died).
      const text = stream ? [...res.text.matchAll(/"content":"([^"]*)"/g)].map((m) => m[1]).join('') : res.text;
      expect(text).toContain(`survive a crash ${String(stream)}`);
      if (stream) {
        expect(res.text.trim().endsWith('data: [DONE]')).toBe(true);
      }
      // The victim's call died with it; the survivor called again.
      expect(sys.sim.stats().byRoute['POST /v1/chat/completions']).toBe(2);

      const rows = await waitFor(
        async () => {
          const found = await sys.query<{ request_id: string; status: string; cost_usd: string }>(
            'SELECT request_id, status, cost_usd FROM usage_records WHERE user_id = $1',
            [userId],
          );
          return found.length > 0 ? found : null;
        },
        { timeoutMs: 20_000, message: 'no usage row' },
      );
      // Give a second (wrong) row or settlement time to arrive.
      await new Promise((r) => setTimeout(r, 1_500));
      const again = await sys.query<{ n: string }>('SELECT count(*) AS n FROM usage_records WHERE user_id = $1', [
        userId,
      ]);
      expect({ rows: Number(again[0].n), status: rows[0].status }).toEqual({ rows: 1, status: 'success' });
      expect(Number(rows[0].cost_usd)).toBeGreaterThan(0);

      const counters = await new QuotaCountersStore(redis, new GovernanceKeys(sys.prefix)).read(userId, Date.now());
      expect({ requests: counters.dailyRequests, spend: counters.dailySpendUsd.toFixed(9) }).toEqual({
        requests: 1,
        spend: Number(rows[0].cost_usd).toFixed(9),
      });
      // The survivor is the worker of the next case.
      expect(sys.workers()).toEqual([survivor]);
    },
    90_000,
  );
});
