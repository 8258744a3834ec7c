import 'reflect-metadata';
import { JobName } from '@aigw/core';
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

/**
 * An async job (no reply channel: its client polls GET /jobs/:id) cut by the shutdown grace is not completed with a
 * "retry the request" error nobody can act on: it goes back to the queue and another worker answers it.
 */
describe('router-worker: shutdown grace exceeded with an async job', () => {
  const h = new WorkerHarness({ env: { SHUTDOWN_GRACE_MS: '300' } });

  beforeAll(() => h.start(), 60_000);
  afterAll(() => h.stop(), 30_000);

  it('leaves the job to another worker, which answers it; one usage row, the answer', async () => {
    h.sim.configure({ latencyMs: 20_000 });
    const request = h.request();
    // As the gateway enqueues an async job (GenerationQueue.add).
    const job = await h.queue.add(
      JobName.Generate,
      { request, replyTo: null },
      {
        jobId: request.requestId,
        attempts: 3,
        backoff: { type: 'exponential', delay: 1_000 },
        removeOnComplete: false,
      },
    );
    await waitFor(() => h.sim.stats().inFlight === 1, { timeoutMs: 5000 });
    await h.closeWorker();
    await waitFor(() => h.sim.stats().cancelled === 1, { timeoutMs: 5000, message: 'provider call not cancelled' });
    expect(await job.getState()).not.toBe('completed');
    expect(await h.usageRows([request.requestId])).toEqual([]);

    h.sim.configure({ latencyMs: 0 });
    await h.spawnWorker();
    const outcome = await h.outcome(job.id!, 20_000);
    expect(outcome).toMatchObject({ ok: true, result: { provider: 'sim-openai' } });
    await waitFor(async () => (await h.usageRows([request.requestId])).length === 1, {
      timeoutMs: 10_000,
      message: 'usage of the answer not recorded',
    });
    expect(await h.usageRows([request.requestId])).toEqual([expect.objectContaining({ status: 'success' })]);
  });
});
