import { createHash, randomBytes } from 'node:crypto';
import { QueueName, type GenerateJobData } from '@aigw/core';
import { AdmissionStore, GovernanceKeys, QuotaCountersStore } from '@aigw/governance';
import { waitFor } from '@aigw/testing';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { REDIS_URL, TestSystem } from '../e2e/harness';

/**
 * A worker settled a job's reservation to its cost, then died before completing the job: BullMQ put it back in the
 * queue. Its client leaving (or its deadline) then removes it before another worker runs it again, and the gateway
 * gives the reservation back: once, or the counters lost the reservation a second time, under what was spent.
 */
describe('the refund of a job removed from the queue after its settlement', () => {
  // No router-worker: the job stays queued, as a job back from a worker that died does until another takes it.
  const sys = new TestSystem({ topology: 'split', workers: 0 });
  let redis: Redis;
  let queue: Queue<GenerateJobData>;

  beforeAll(async () => {
    await sys.start();
    redis = new Redis(REDIS_URL);
    queue = new Queue<GenerateJobData>(QueueName.Generation, {
      connection: new Redis(REDIS_URL, { maxRetriesPerRequest: null }),
      prefix: `{${sys.prefix}}`,
    });
  }, 90_000);

  afterAll(async () => {
    const connection = await queue?.client;
    await queue?.close();
    await connection?.quit();
    await redis?.quit();
    await sys.stop();
  }, 60_000);

  it('takes nothing off the counters its settlement already moved', async () => {
    const [user] = await sys.query<{ id: string }>('INSERT INTO users (name) VALUES ($1) RETURNING id', ['requeued']);
    const key = `sk-aigw-${randomBytes(24).toString('base64url')}`;
    await sys.query('INSERT INTO api_keys (user_id, role, key_hash, prefix) VALUES ($1, $2, $3, $4)', [
      user.id,
      'user',
      createHash('sha256').update(key).digest('hex'),
      key.slice(0, 16),
    ]);
    await sys.query(`INSERT INTO user_quotas (user_id, tier, daily_spend_limit_usd) VALUES ($1, 'default', 5)`, [
      user.id,
    ]);
    const client = new AbortController();
    const answered = fetch(`${sys.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'sim0/sim-gpt', max_tokens: 500, messages: [{ role: 'user', content: 'hi' }] }),
      signal: client.signal,
    }).catch(() => null);
    const job = await waitFor(async () => (await queue.getWaiting())[0] ?? null, {
      timeoutMs: 10_000,
      message: 'the job was not queued',
    });
    const request = job.data.request;
    if (request.reservation === undefined) {
      throw new Error('expected a reservation');
    }
    // The worker's settlement (as Settlement makes it: marked per admission until a minute past the deadline).
    const keys = new GovernanceKeys(sys.prefix);
    await new AdmissionStore(redis, keys).settle(
      request.reservation,
      60,
      0.001,
      { jobId: request.requestId, ttlMs: request.deadlineAt - Date.now() + 60_000 },
      request.receivedAt,
    );
    const counters = new QuotaCountersStore(redis, keys);
    expect((await counters.read(user.id, Date.now())).dailySpendUsd).toBeCloseTo(0.001, 9);
    client.abort();
    await answered;
    await waitFor(async () => ((await queue.getJob(job.id ?? '')) === undefined ? true : null), {
      timeoutMs: 10_000,
      message: 'the job was not removed',
    });
    await new Promise((r) => setTimeout(r, 500));
    expect((await counters.read(user.id, Date.now())).dailySpendUsd).toBeCloseTo(0.001, 9);
  }, 60_000);
});
