import { createHash, randomBytes } from 'node:crypto';
import { QueueName, type GenerateJobData } from '@aigw/core';
import { GovernanceKeys, QuotaCountersStore } from '@aigw/governance';
import { waitFor } from '@aigw/testing';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { REDIS_URL, TestSystem } from '../e2e/harness';

/**
 * A generate job BullMQ failed (every run's processor threw: a worker that gave up its hand-off past the shutdown
 * grace, stalls run out) handed in no outcome and settled nothing: the gateway waiting for it gives its admission's
 * reservation back, or the user's daily budget stayed charged the worst case of a request that cost nothing and has
 * no usage record.
 */
describe('the reservation of a job BullMQ failed', () => {
  // No router-worker: the test's own BullMQ worker takes the jobs and fails every run of them.
  const sys = new TestSystem({ topology: 'split', workers: 0 });
  let redis: Redis;
  let failing: Worker<GenerateJobData> | undefined;
  const workerConnection = new Redis(REDIS_URL, { maxRetriesPerRequest: null, lazyConnect: true });

  beforeAll(async () => {
    await sys.start();
    redis = new Redis(REDIS_URL);
  }, 90_000);

  afterAll(async () => {
    await failing?.close();
    await workerConnection.quit();
    await redis?.quit();
    await sys.stop();
  }, 60_000);

  async function userWithKey(dailySpendUsd: number): Promise<{ userId: string; key: string }> {
    const [user] = await sys.query<{ id: string }>('INSERT INTO users (name) VALUES ($1) RETURNING id', [
      `failed-job-${randomBytes(4).toString('hex')}`,
    ]);
    const plain = `sk-aigw-${randomBytes(24).toString('base64url')}`;
    await sys.query('INSERT INTO api_keys (user_id, role, key_hash, prefix) VALUES ($1, $2, $3, $4)', [
      user.id,
      'user',
      createHash('sha256').update(plain).digest('hex'),
      plain.slice(0, 16),
    ]);
    await sys.query(`INSERT INTO user_quotas (user_id, tier, daily_spend_limit_usd) VALUES ($1, 'default', $2)`, [
      user.id,
      dailySpendUsd,
    ]);
    return { userId: user.id, key: plain };
  }

  let runs = 0;

  function failEveryRun(): void {
    failing ??= new Worker<GenerateJobData>(
      QueueName.Generation,
      () => {
        runs++;
        return Promise.reject(new Error('usage event given up: Redis unreachable past the shutdown grace'));
      },
      { connection: workerConnection, prefix: `{${sys.prefix}}` },
    );
  }

  function chat(key: string, stream: boolean): Promise<Response> {
    return fetch(`${sys.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'sim0/sim-gpt',
        max_tokens: 50,
        stream,
        messages: [{ role: 'user', content: `hi ${randomBytes(4).toString('hex')}` }],
      }),
    });
  }

  async function refunded(userId: string): Promise<void> {
    const counters = new QuotaCountersStore(redis, new GovernanceKeys(sys.prefix));
    await waitFor(async () => ((await counters.read(userId, Date.now())).dailySpendUsd === 0 ? true : null), {
      timeoutMs: 5_000,
      message: 'the failed job kept its reservation',
    });
  }

  it('is given back by the gateway that waited for it, once', async () => {
    const { userId, key } = await userWithKey(5);
    failEveryRun();
    runs = 0;
    const res = await chat(key, false);
    expect(res.status).toBe(500);
    const body = (await res.json()) as { error: { message: string } };
    expect(body.error.message).toMatch(/^The generation failed after 3 attempts/);
    expect(runs).toBe(3);
    // Nothing was generated, nothing recorded: the day's spend goes back to 0.
    await refunded(userId);
    expect(await sys.query('SELECT 1 FROM usage_records WHERE user_id = $1', [userId])).toHaveLength(0);
  }, 60_000);

  it('is given back for a streamed request too', async () => {
    const { userId, key } = await userWithKey(5);
    failEveryRun();
    const res = await chat(key, true);
    // Failed before its stream opened: the error answers it, as any failure before the first chunk.
    expect(res.status).toBe(500);
    await res.text();
    await refunded(userId);
  }, 60_000);

  it('of an async job is given back when the job is read', async () => {
    const { userId, key } = await userWithKey(5);
    failEveryRun();
    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    const res = await fetch(`${sys.gatewayUrl}/api/v1/ai/jobs`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ model: 'sim-gpt', prompt: 'hi', options: { maxTokens: 50 } }),
    });
    expect(res.status).toBe(202);
    const { jobId } = (await res.json()) as { jobId: string };
    const failed = await waitFor(
      async () => {
        const view = (await (await fetch(`${sys.gatewayUrl}/api/v1/ai/jobs/${jobId}`, { headers })).json()) as {
          status: string;
        };
        return view.status === 'failed' ? view : null;
      },
      { timeoutMs: 15_000, message: 'the job did not fail' },
    );
    expect(failed.status).toBe('failed');
    await refunded(userId);
    // Read again: given back once, not a second time.
    await fetch(`${sys.gatewayUrl}/api/v1/ai/jobs/${jobId}`, { headers });
    const counters = new QuotaCountersStore(redis, new GovernanceKeys(sys.prefix));
    expect((await counters.read(userId, Date.now())).dailySpendUsd).toBe(0);
  }, 60_000);
});
