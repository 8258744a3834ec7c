import 'reflect-metadata';
import { DAY_MS } from '@aigw/core';
import { WorkerHarness } from './support';

/** How long a cooldown holds a deployment at most here: a 429's Retry-After above it is held this long. */
const OPEN_MS = 1500;

/**
 * An async job's deadline is a day away (ASYNC_JOB_RETENTION_S), so a Retry-After of an hour (a provider's daily
 * quota) fitted it: the worker slept the hour, once per retry, holding one of its WORKER_CONCURRENCY slots, while
 * every worker called the provider again after CB_OPEN_MS. The retry comes when the cooldown the 429 wrote ends.
 */
describe('router-worker: a Retry-After longer than CB_OPEN_MS (in-process, real Redis, simulator)', () => {
  const h = new WorkerHarness({ env: { RETRY_MAX: '1', RETRY_BASE_MS: '10', CB_OPEN_MS: String(OPEN_MS) } });

  beforeAll(() => h.start(), 60_000);
  afterAll(() => h.stop(), 30_000);

  it('an async job retries once the cooldown held ends, not after the hour its provider named', async () => {
    h.sim.configure({ failNext: 1, failMode: 'status', failStatus: [429], retryAfterS: 3600 });
    h.sim.reset();
    const started = Date.now();
    const job = await h.enqueue({ deadlineAt: started + DAY_MS }, null);
    const outcome = await h.outcome(job.id!, 10_000);
    expect(outcome).toMatchObject({
      ok: true,
      result: { provider: 'sim-openai', attempts: [{ ok: true, retries: 1 }] },
    });
    expect(h.sim.stats().total).toBe(2);
    // After the cooldown (and its retry margin), well before the hour.
    expect(Date.now() - started).toBeGreaterThanOrEqual(OPEN_MS);
  }, 20_000);
});
