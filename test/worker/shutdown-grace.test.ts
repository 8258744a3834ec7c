import 'reflect-metadata';
import { waitFor } from '@aigw/testing';
import { WorkerHarness } from './support';

/** A job still running when the shutdown grace runs out is aborted and answered "retry", not cut off silently. */
describe('router-worker: shutdown grace exceeded', () => {
  const h = new WorkerHarness({ env: { SHUTDOWN_GRACE_MS: '300' } });

  beforeAll(() => h.start(), 60_000);
  afterAll(() => h.stop(), 30_000);

  it('aborts the provider call, answers service_unavailable with a retry hint and records the usage', async () => {
    h.sim.configure({ latencyMs: 20_000 });
    const job = await h.enqueue({ stream: true });
    await waitFor(() => h.sim.stats().inFlight === 1, { timeoutMs: 5000 });
    await h.closeWorker();
    const replies = await h.finalReplies(job.id!);
    expect(replies).toEqual([
      expect.objectContaining({
        t: 'error',
        error: expect.objectContaining({ code: 'service_unavailable' }),
        retryAfterMs: 1000,
      }),
    ]);
    expect(await job.getState()).toBe('completed');
    await waitFor(() => h.sim.stats().cancelled === 1, { timeoutMs: 5000, message: 'provider call not cancelled' });
    const rows = await h.usageRows([job.data.request.requestId]);
    expect(rows).toEqual([
      expect.objectContaining({ status: 'error', error_class: 'cancelled', error_code: 'service_unavailable' }),
    ]);
  });
});
