import 'reflect-metadata';
import { DAY_MS } from '@aigw/core';
import { WorkerHarness } from './support';

/** The longest a cooldown holds a deployment here: a 429's Retry-After above it is held this long. */
const OPEN_MS = 1500;

/**
 * An async job's deadline is a day away (ASYNC_JOB_RETENTION_S), so a Retry-After of an hour (a provider's daily
 * quota) fitted it: the worker slept the hour, once per retry, holding one of its WORKER_CONCURRENCY slots. A wait
 * longer than CB_OPEN_MS is not waited out: the job ends as the provider answered, with the wait held.
 */
describe('router-worker: a Retry-After longer than CB_OPEN_MS (in-process, real Redis, simulator)', () => {
  const h = new WorkerHarness({ env: { RETRY_MAX: '1', RETRY_BASE_MS: '10', CB_OPEN_MS: String(OPEN_MS) } });

  beforeAll(() => h.start(), 60_000);
  afterAll(() => h.stop(), 30_000);

  it('an async job is not held for the hour its provider named: it fails at once with the 429', async () => {
    h.sim.configure({ failNext: 1, failMode: 'status', failStatus: [429], retryAfterS: 3600 });
    h.sim.reset();
    const job = await h.enqueue({ deadlineAt: Date.now() + DAY_MS }, null);
    const outcome = await h.outcome(job.id!, 10_000);
    expect(outcome).toMatchObject({ ok: false, error: { code: 'provider_rate_limited' } });
    if (outcome.ok) {
      throw new Error('expected a failure');
    }
    expect(outcome.retryAfterMs).toBeGreaterThan(0);
    expect(outcome.retryAfterMs).toBeLessThanOrEqual(OPEN_MS);
    expect(h.sim.stats().total).toBe(1);
  }, 20_000);
});
