import { uniqueId, waitFor } from '@aigw/testing';
import { Redis } from 'ioredis';
import { REDIS_URL, TestSystem } from './harness';

/**
 * Cache warming waits at most 60 s for its jobs (ADR 0005); a job not done by then is reported failed but "goes on and
 * fills". It did not: the job carried the warm call's 60 s as its own deadline, so a warming job still queued behind
 * traffic at that moment was ended as `timeout` by the worker that took it (no provider call), and one still running
 * was aborted. A warm call on a busy queue filled nothing it did not finish within the minute. The job's deadline is
 * now an async job's (ASYNC_JOB_RETENTION_S); only the call's wait ends at 60 s.
 */
describe('cache warming: a job past the 60 s wait still runs and fills (e2e)', () => {
  // No worker at first: the warming job waits in the queue past the warm call's wait.
  const system = new TestSystem({ topology: 'split', workers: 0, env: { CACHE_ENABLED: 'true', CACHE_TTL_S: '600' } });

  beforeAll(() => system.start(), 90_000);
  afterAll(() => system.stop(), 30_000);

  it('reports it failed (timeout) at 60 s, then a worker runs it and the entry is there', async () => {
    const prompt = `warm late ${uniqueId()}`;
    const res = await fetch(`${system.gatewayUrl}/api/v1/ai/admin/cache/warm`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({ requests: [{ model: 'sim-gpt', messages: [{ role: 'user', content: prompt }] }] }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ warmed: 0, failed: 1, results: [{ status: 'failed', error: 'timeout' }] });
    expect(system.sim.stats().total).toBe(0);

    await system.addReplica('router-worker');
    // The provider is called for it (it was ended as `timeout` without a call), and its answer stored.
    await waitFor(() => system.sim.stats().total === 1, { timeoutMs: 20_000 });
    const redis = new Redis(REDIS_URL);
    try {
      await waitFor(async () => (await redis.keys(`${system.prefix}:cache:*`)).length === 1);
    } finally {
      await redis.quit();
    }
    const r = await fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({ model: 'sim-gpt', messages: [{ role: 'user', content: prompt }] }),
    });
    expect(r.status).toBe(200);
    await r.text();
    expect(r.headers.get('x-gateway-cache')).toBe('hit');
    expect(system.sim.stats().total).toBe(1);
  }, 120_000);
});
