import { QueueName, type UsageBatch, type UsageEvent } from '@aigw/core';
import { RedisKeys } from '@aigw/platform';
import { waitFor } from '@aigw/testing';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { chat, GatewayHarness, REDIS_URL } from './support';

/**
 * A sync request whose job BullMQ failed (every run of it crashed or was given up: no worker handed in an outcome, so
 * none recorded its usage) is answered 500 all the same: it was served, and is recorded once, as a failure. Without
 * its row, the analytics' requests and failures missed it and a rebuild of the quota counters dropped it from the
 * day's requests.
 */
describe('api-gateway: usage of a request whose job failed', () => {
  const h = new GatewayHarness({ USAGE_LINGER_MS: '0' });
  let redis: Redis;
  let usage: Queue<UsageBatch>;

  beforeAll(async () => {
    await h.start();
    redis = new Redis(REDIS_URL);
    usage = new Queue<UsageBatch>(QueueName.Usage, { connection: redis, prefix: new RedisKeys(h.prefix).bullPrefix });
  }, 60_000);

  afterAll(async () => {
    await usage.close();
    await redis.quit();
    await h.stop();
  }, 30_000);

  async function eventsOf(requestId: string): Promise<UsageEvent[]> {
    const jobs = await usage.getJobs(['waiting', 'delayed', 'prioritized', 'active', 'completed', 'failed']);
    return jobs.flatMap((j) => j.data.events).filter((e) => e.requestId === requestId);
  }

  it('records one failed usage row under its request id when every run of its job crashed', async () => {
    let runs = 0;
    h.handle(() => {
      runs++;
      return Promise.reject(new Error('worker crashed'));
    });
    const key = await h.userKey('failed-job-user');
    const res = await h.post('/v1/chat/completions', chat('crash every worker'), h.headers(key));
    expect(res.status).toBe(500);
    expect(runs).toBe(3);
    const requestId = res.headers.get('x-request-id') ?? '';
    expect(requestId).not.toBe('');
    const events = await waitFor(
      async () => {
        const found = await eventsOf(requestId);
        return found.length > 0 ? found : undefined;
      },
      { timeoutMs: 5_000, message: 'no usage event for the request' },
    );
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      requestId,
      status: 'error',
      errorCode: 'internal_error',
      requestedModel: 'sim-gpt',
      costUsd: 0,
      cached: false,
    });
  }, 30_000);
});
