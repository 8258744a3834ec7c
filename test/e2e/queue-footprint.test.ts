import { Redis } from 'ioredis';
import { QUEUE_EVENTS_MAX_LEN } from '@aigw/platform';
import { waitFor } from '@aigw/testing';
import { REDIS_URL, TestSystem } from './harness';

/** What the generation queue leaves in Redis under steady traffic: bounded, whatever the number of requests. */
describe('queue footprint in Redis (e2e)', () => {
  const system = new TestSystem({ workers: 1, env: { REQUEST_TIMEOUT_MS: '20000', SYNC_JOB_RETENTION_S: '300' } });
  let redis: Redis;
  const key = (name: string): string => `{${system.prefix}}:generation:${name}`;

  beforeAll(async () => {
    await system.start();
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  }, 90_000);

  afterAll(async () => {
    await redis?.quit();
    await system.stop();
  }, 30_000);

  async function keysOf(pattern: string): Promise<string[]> {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      found.push(...batch);
    } while (cursor !== '0');
    return found;
  }

  async function chat(content: string, headers: Record<string, string> = {}): Promise<Response> {
    return fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...system.headers(), ...headers },
      body: JSON.stringify({ model: 'sim-gpt', messages: [{ role: 'user', content }] }),
    });
  }

  /** `n` sync requests, `concurrency` at a time; every one must be answered. */
  async function load(n: number, concurrency: number): Promise<void> {
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < n) {
          const res = await chat(`load ${next++}`);
          expect(res.status).toBe(200);
          await res.arrayBuffer();
        }
      }),
    );
  }

  it("bounds BullMQ's event stream: a short tail instead of 10,000 events", async () => {
    await load(300, 20);
    expect(await redis.hget(key('meta'), 'opts.maxLenEvents')).toBe(String(QUEUE_EVENTS_MAX_LEN));
    // 300 requests append ~1,200 events; trimming keeps whole stream nodes of 100 past the bound.
    expect(await redis.xlen(key('events'))).toBeLessThanOrEqual(QUEUE_EVENTS_MAX_LEN + 200);
  });

  it('keeps no completed sync job in BullMQ, nor the outcome of one that was answered', async () => {
    expect(await redis.zcard(key('completed'))).toBe(0);
    // The last answers went out on the reply channel before their jobs completed.
    await waitFor(async () => (await keysOf(`{${system.prefix}}:generation:req_*`)).length === 0, {
      message: 'completed sync jobs are still in BullMQ',
    });
    // Each was kept by the worker until the gateway, answered, released it (ADR 0001).
    await waitFor(async () => (await keysOf(`${system.prefix}:outcome:*`)).length === 0, {
      message: 'outcomes of answered requests are still kept',
    });
  });

  it('answers an Idempotency-Key replay from the kept outcome, without calling the provider again', async () => {
    const headers = { 'idempotency-key': 'footprint-1' };
    const first = await chat('keyed', headers);
    expect(first.status).toBe(200);
    const answer = (await first.json()) as { choices: { message: { content: string } }[] };
    const outcomes = await waitFor(async () => {
      const found = await keysOf(`${system.prefix}:outcome:idem_*`);
      return found.length > 0 ? found : null;
    });
    expect(outcomes).toHaveLength(1);
    expect(await redis.pttl(outcomes[0])).toBeGreaterThan(250_000);
    const calls = system.sim.stats().total;
    const replay = await chat('keyed', headers);
    expect(replay.status).toBe(200);
    expect(await replay.json()).toEqual(answer);
    expect(system.sim.stats().total).toBe(calls);
    expect(await redis.zcard(key('completed'))).toBe(0);
  });

  it("a streamed answer's job stays readable at GET /jobs/:id (its cost is not in the stream)", async () => {
    const res = await fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({
        model: 'sim-gpt',
        stream: true,
        messages: [{ role: 'user', content: 'streamed, then read' }],
      }),
    });
    expect(res.status).toBe(200);
    await res.text();
    const jobId = res.headers.get('x-request-id') ?? '';
    // BullMQ drops the sync job as it completes; the answer then comes from the outcome its worker keeps.
    await waitFor(async () => (await redis.exists(key(jobId))) === 0, { message: 'the sync job stayed in BullMQ' });
    const job = await waitFor(
      async () => {
        const r = await fetch(`${system.gatewayUrl}/api/v1/ai/jobs/${jobId}`, { headers: system.headers() });
        const body = (await r.json()) as { status: string; result?: { text: string; costUsd: number } };
        return body.status === 'completed' ? body : null;
      },
      { timeoutMs: 5000, message: 'the streamed job was not readable as completed' },
    );
    expect(job.result).toMatchObject({ text: 'streamed, then read' });
    expect(job.result?.costUsd).toBeGreaterThan(0);
  });
});
