import { waitFor } from '@aigw/testing';
import { Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { REDIS_URL, TestSystem } from './harness';

/**
 * A provider deleted through the admin API while a worker's call to it is still running: the call fails after the
 * deletion (and the worker's catalog reload), and what the worker records of that failure must not bring back the
 * circuit and averages the admin API has just deleted, or a provider re-created with the same id would inherit them.
 */
describe('a deleted provider stays forgotten (e2e)', () => {
  // CATALOG_RELOAD_S is long so that only `provider.changed` reloads the worker's catalog.
  const system = new TestSystem({ simulators: 2, env: { CATALOG_RELOAD_S: '3600' } });
  const redis = new Redis(REDIS_URL);

  beforeAll(() => system.start(), 90_000);
  afterAll(async () => {
    await system.stop();
    await redis.quit();
  }, 30_000);

  it('a call in flight that fails after the delete writes no circuit or latency of it back', async () => {
    // sim1 answers 503 after a while: the call is still running when the provider is deleted, and (with margin for
    // a busy host) when the workers have reloaded their catalogs.
    system.sims[1].configure({ latencyMs: 4000, failRate: 1, failStatus: [503] });
    const call = fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({ model: 'sim1/sim-gpt', messages: [{ role: 'user', content: 'hi' }] }),
    }).then(async (res) => {
      await res.arrayBuffer();
      return res.status;
    });
    // The call is at sim1 before the delete, not still on its way (it would then fail as an unknown model).
    await waitFor(() => system.sims[1].stats().inFlight === 1, {
      timeoutMs: 4000,
      intervalMs: 20,
      message: 'the call never reached sim1',
    });

    const res = await fetch(`${system.gatewayUrl}/api/v1/ai/admin/providers/sim1`, {
      method: 'DELETE',
      headers: system.headers(),
    });
    expect(res.status).toBe(200);
    // Precondition: the call was still running when the delete was done.
    expect(system.sims[1].stats().inFlight).toBe(1);
    expect(await call).toBeGreaterThanOrEqual(400);
    // Past the workers' write-behind delays (at most 250 ms for circuits and latency, 1 s for rate limits).
    await sleep(1500);

    const prefix = `${system.prefix}:routing:`;
    expect(await redis.exists(`${prefix}cb:{sim1/sim-gpt}`)).toBe(0);
    expect(await redis.hexists(`${prefix}latency`, 'sim1/sim-gpt')).toBe(0);
    expect(await redis.exists(`${prefix}route:sim1`)).toBe(0);
  }, 60_000);
});
