import 'reflect-metadata';
import { waitFor } from '@aigw/testing';
import { WorkerHarness } from './support';

/**
 * Worker processes (from dist/, built by `npm test`) dying mid-request: the job's lock lapses, another
 * worker takes it over and answers. Short lock and stall settings keep the takeover within a second or two.
 */
describe('router-worker processes: a SIGKILLed worker does not lose its job', () => {
  const h = new WorkerHarness({
    env: { WORKER_LOCK_MS: '1000', WORKER_STALLED_INTERVAL_MS: '500', LOG_LEVEL: 'warn' },
  });

  beforeAll(() => h.prepare(), 30_000);
  afterAll(() => h.stop(), 30_000);

  it('another worker completes the job of a worker killed mid-request, and records its usage once', async () => {
    // Long enough that the victim is still waiting for it however slowly the survivor boots on a busy host.
    h.sim.configure({ latencyMs: 30_000, echo: true });
    const victim = await h.spawnWorker();
    const job = await h.enqueue({ messages: [{ role: 'user', content: 'survive a crash' }] });
    await waitFor(() => h.sim.stats().inFlight === 1, {
      timeoutMs: 10_000,
      message: 'the job never reached the provider',
    });

    const survivor = await h.spawnWorker();
    // The survivor's call (the re-run) answers at once; the victim's keeps its 30 s.
    h.sim.configure({ latencyMs: 0 });
    victim.child.kill('SIGKILL');
    await expect(victim.exited).resolves.toBe('SIGKILL');

    const replies = await h.finalReplies(job.id!, 30_000);
    expect(replies).toHaveLength(1);
    expect(replies[0]).toMatchObject({ t: 'result', result: { text: 'survive a crash', provider: 'sim-openai' } });
    await expect(h.outcome(job.id!)).resolves.toMatchObject({ ok: true });
    // The first call died with its worker; the survivor called the provider again.
    expect(h.sim.stats().byRoute['POST /v1/chat/completions']).toBe(2);
    const rows = await waitFor(async () => {
      const r = await h.usageRows([job.data.request.requestId]);
      return r.length > 0 ? r : undefined;
    });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: 'success' });

    survivor.child.kill('SIGTERM');
    await expect(survivor.exited).resolves.toBe(0);
  }, 60_000);
});
