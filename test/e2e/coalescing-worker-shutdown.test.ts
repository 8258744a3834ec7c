import { uniqueId, waitFor } from '@aigw/testing';
import { Redis } from 'ioredis';
import { REDIS_URL, TestSystem } from './harness';

/**
 * A coalesced job (ADR 0007) whose worker shuts down before the provider answered ends in the worker's 503 "retry the
 * request". That says nothing about a follower's request: it has time of its own left, so it runs again (as it does
 * when the leader's deadline passed) on a worker that stays, rather than pass its client the draining worker's 503.
 * The leader, whose own job it was, still answers that 503 (a sync request's client retries it).
 */
describe('coalescing: a follower of a job its worker cut at shutdown (e2e)', () => {
  const system = new TestSystem({
    workers: 1,
    env: { CACHE_ENABLED: 'true', CACHE_TTL_S: '60' },
    // The provider's timeout outlasts a worker's start and drain: the call is cut by the drain, not by its timeout
    // (whose retry would answer the leader).
    catalog: (s) => s.catalogYaml().replaceAll('timeoutMs: 10000', 'timeoutMs: 60000'),
  });
  const redis = new Redis(REDIS_URL);

  beforeAll(() => system.start(), 90_000);

  afterAll(async () => {
    await system.stop();
    await redis.quit();
  }, 30_000);

  function chat(prompt: string, stream = false): Promise<Response> {
    return fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: system.headers(),
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

  /** The worker each test drains: gone before the next test picks the one to drain. */
  let drained: Promise<number | null> = Promise.resolve(0);

  afterEach(() => drained, 20_000);

  for (const stream of [false, true]) {
    it(`a ${stream ? 'streamed' : 'whole'} follower runs again on a worker that stays`, async () => {
      expect(system.workers()).toHaveLength(1);
      const [draining] = system.workers();
      system.sim.reset();
      // The leader's call outlasts the draining worker's drain; calls made after it answer at once.
      system.sim.configure({ latencyMs: 30_000, chunkDelayMs: 0 });
      const prompt = `worker shutdown ${stream} ${uniqueId()}`;
      const leader = chat(prompt, stream);
      await waitFor(() => system.sim.stats().inFlight === 1, { timeoutMs: 5_000, intervalMs: 20 });
      system.sim.configure({ latencyMs: 0 });
      const follower = chat(prompt, stream);
      await waiting(2);
      // A worker that stays, then the one running the job drains: its call is cut at the end of the drain, answered 503.
      await system.addReplica('router-worker');
      draining.child.kill('SIGTERM');
      drained = draining.exited;

      const led = await leader;
      expect(led.status).toBe(503);
      expect(await led.text()).toContain('The worker shut down before the provider answered');

      const followed = await follower;
      const body = await followed.text();
      expect(followed.status).toBe(200);
      // It led a call of its own on the worker that stays: not a share of the cut call.
      expect(followed.headers.get('x-gateway-coalesced')).toBeNull();
      expect(body).toContain(stream ? 'data: [DONE]' : prompt);
      expect(system.sim.stats().total).toBe(2);

      // Billed once, as its own call.
      const requestId = followed.headers.get('x-request-id');
      const rows = await waitFor(async () => {
        const found = await system.query<{ status: string; cached: boolean; cost_usd: string }>(
          'SELECT status, cached, cost_usd FROM usage_records WHERE request_id = $1',
          [requestId],
        );
        return found.length > 0 ? found : null;
      });
      await new Promise((r) => setTimeout(r, 500));
      expect(await system.query('SELECT 1 FROM usage_records WHERE request_id = $1', [requestId])).toHaveLength(1);
      expect(rows[0]).toMatchObject({ status: 'success', cached: false });
      expect(Number(rows[0].cost_usd)).toBeGreaterThan(0);
    }, 40_000);
  }
});
