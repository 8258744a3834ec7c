import { Redis } from 'ioredis';
import { QUEUE_EVENTS_MAX_LEN } from '@aigw/platform';
import { REDIS_URL, TestSystem } from './harness';

/** What the generation queue leaves in Redis under steady traffic: bounded, whatever the number of requests. */
describe('queue footprint in Redis (e2e)', () => {
  const system = new TestSystem({ workers: 1 });
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
});
