import 'reflect-metadata';
import { JobName } from '@aigw/core';
import { waitFor } from '@aigw/testing';
import { WorkerHarness } from './support';

/**
 * A preference's `usageCount` counts the requests routed by it. An async job cut by the shutdown grace goes back to
 * the queue and another worker runs it: one request, planned twice. It must count once, not once per run.
 */
describe('router-worker: a re-run job counts its preference use once', () => {
  const h = new WorkerHarness({ env: { SHUTDOWN_GRACE_MS: '300' } });

  beforeAll(() => h.start(), 60_000);
  afterAll(() => h.stop(), 30_000);

  it('async job requeued at shutdown and answered by another worker: usage_count 1', async () => {
    const request = h.request({ policy: 'preference' });
    await h.query(`INSERT INTO users (id, name) VALUES ($1, $2)`, [request.userId, `u-${request.requestId}`]);
    await h.query(`INSERT INTO user_preferences (user_id, context, provider, model) VALUES ($1, '', $2, $3)`, [
      request.userId,
      'sim-openai',
      'sim-gpt',
    ]);
    h.sim.configure({ latencyMs: 20_000 });
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
    // Its shutdown writes the counted uses (the first run's plan).
    await h.closeWorker();
    expect(await job.getState()).not.toBe('completed');

    h.sim.configure({ latencyMs: 0 });
    const second = await h.spawnWorker();
    expect(await h.outcome(job.id!, 20_000)).toMatchObject({ ok: true, result: { provider: 'sim-openai' } });
    await waitFor(async () => (await h.usageRows([request.requestId])).length === 1, {
      timeoutMs: 10_000,
      message: 'usage of the answer not recorded',
    });
    // The second worker writes its counts every second (and at exit).
    second.child.kill('SIGTERM');
    await second.exited;
    const [pref] = await h.query<{ usage_count: string }>(
      `SELECT usage_count FROM user_preferences WHERE user_id = $1`,
      [request.userId],
    );
    expect(Number(pref.usage_count)).toBe(1);
  });
});
