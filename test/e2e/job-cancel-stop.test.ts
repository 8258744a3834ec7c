import { sleep, waitFor } from '@aigw/testing';
import { TestSystem } from './harness';

/**
 * `POST /api/v1/ai/jobs/:id/cancel` of a running job whose worker does not stop it within the cancel's wait (3 s): the
 * worker is paused (SIGSTOP) or gone (SIGKILL). The cancel then answers `running` (the stop was asked for); what it
 * leaves behind must neither hand a replay the doomed run, nor outlive the job, nor let a re-run call the provider.
 */
interface JobView {
  jobId: string;
  status: string;
}

function jobsApi(system: TestSystem, key: () => string) {
  return {
    async submit(prompt: string, idempotencyKey?: string): Promise<{ status: number; jobId: string }> {
      const headers = system.headers(key());
      const res = await fetch(`${system.gatewayUrl}/api/v1/ai/jobs`, {
        method: 'POST',
        headers: idempotencyKey === undefined ? headers : { ...headers, 'idempotency-key': idempotencyKey },
        body: JSON.stringify({ model: 'sim-gpt', prompt }),
      });
      return { status: res.status, jobId: ((await res.json()) as { jobId: string }).jobId };
    },
    async read(jobId: string): Promise<{ status: number; body: JobView }> {
      const res = await fetch(`${system.gatewayUrl}/api/v1/ai/jobs/${jobId}`, { headers: system.headers(key()) });
      return { status: res.status, body: (await res.json()) as JobView };
    },
    async cancel(jobId: string): Promise<{ status: number; body: JobView }> {
      const res = await fetch(`${system.gatewayUrl}/api/v1/ai/jobs/${jobId}/cancel`, {
        method: 'POST',
        headers: system.headers(key()),
      });
      return { status: res.status, body: (await res.json()) as JobView };
    },
  };
}

/** Starts `system` for the describe it is called in (stopped after it), with a user key `api` calls with. */
function startedWithKey(system: TestSystem, userName: string): ReturnType<typeof jobsApi> {
  let key = '';
  beforeAll(async () => {
    await system.start();
    const user = await system.admin<{ id: string }>('POST', '/users', { name: userName });
    key = (await system.admin<{ key: string }>('POST', '/keys', { userId: user.id })).key;
  }, 90_000);
  afterAll(() => system.stop(), 30_000);
  return jobsApi(system, () => key);
}

const callsWith = (system: TestSystem, text: string): number =>
  system.sim
    .lastRequests()
    .map((r) => JSON.stringify(r.body) ?? '')
    .filter((b) => b.includes(text)).length;

describe('an async replay of a running job, then a cancel its worker is slow to carry out (e2e)', () => {
  // Locks long enough that a worker paused for seconds keeps its job (no stall, no re-run).
  const system = new TestSystem({
    workers: 1,
    env: { RETRY_MAX: '0', WORKER_LOCK_MS: '30000', WORKER_STALLED_INTERVAL_MS: '30000' },
  });
  const api = startedWithKey(system, 'replay-then-cancel');

  it('a replay sent while the cancel is being carried out waits for the run to stop and runs the request again', async () => {
    const prompt = 'replayed, cancelled, replayed again';
    system.sim.configure({ latencyMs: 20_000 });
    const first = await api.submit(prompt, 'replay-cancel-replay');
    expect(first.status).toBe(202);
    await waitFor(() => system.sim.stats().inFlight >= 1, { timeoutMs: 10_000, message: 'the job never ran' });
    // An async replay of the running job: nobody waits for it on a connection, so it must not count as a watcher.
    expect(await api.submit(prompt, 'replay-cancel-replay')).toEqual(first);

    const worker = system.workers()[0].child;
    worker.kill('SIGSTOP');
    let replay: Promise<{ status: number; jobId: string }>;
    try {
      // The worker cannot stop the job while paused: the cancel gives up waiting and says it still runs.
      const cancelled = await api.cancel(first.jobId);
      expect(cancelled).toMatchObject({ status: 200, body: { status: 'running' } });
      system.sim.configure({ latencyMs: 0 });
      // A replay now must not be handed the run being stopped: it waits for it to stop.
      replay = api.submit(prompt, 'replay-cancel-replay');
      await sleep(1_000);
    } finally {
      worker.kill('SIGCONT');
    }
    expect(await replay).toEqual(first);
    // The replay ran the request again under the job id once the cancelled run stopped: it completes.
    const view = await waitFor(
      async () => {
        const v = await api.read(first.jobId);
        return v.body.status === 'queued' || v.body.status === 'running' ? null : v;
      },
      { timeoutMs: 20_000 },
    );
    expect(view).toMatchObject({ status: 200, body: { status: 'completed' } });
    expect(callsWith(system, prompt)).toBe(2);
  }, 60_000);
});

describe('a cancel that gave up on a running job whose worker died (e2e)', () => {
  // The job's deadline is its retention (ASYNC_JOB_RETENTION_S): long enough for the re-run, short enough to expire.
  const system = new TestSystem({ workers: 1, env: { RETRY_MAX: '0', ASYNC_JOB_RETENTION_S: '20' } });
  const api = startedWithKey(system, 'cancel-gave-up');

  it('the cancel record does not outlive the job: past its retention the job reads as gone, not cancelled', async () => {
    const prompt = 'its worker dies while it is cancelled';
    system.sim.configure({ latencyMs: 10_000 });
    const { status, jobId } = await api.submit(prompt);
    expect(status).toBe(202);
    await waitFor(() => system.sim.stats().inFlight >= 1, { timeoutMs: 10_000, message: 'the job never ran' });
    system.workers()[0].child.kill('SIGKILL');
    // Nobody hears the cancel; the job stays locked by the dead worker for a while: the cancel gives up waiting.
    const cancelled = await api.cancel(jobId);
    expect(cancelled).toMatchObject({ status: 200, body: { status: 'running' } });

    // A worker that never heard the cancel takes the stalled job over.
    system.sim.configure({ latencyMs: 0 });
    await system.addReplica('router-worker');
    const ended = await waitFor(
      async () => {
        const v = await api.read(jobId);
        return v.body.status === 'queued' || v.body.status === 'running' ? null : v;
      },
      { timeoutMs: 20_000 },
    );
    expect(ended.status).toBe(200);

    // Past its retention the job is gone for its owner (404), now and on every later read: its cancel record, kept
    // as long as the job might have been, does not make it read as cancelled.
    await waitFor(async () => (await api.read(jobId)).status === 404, { timeoutMs: 40_000, intervalMs: 500 });
    for (let i = 0; i < 3; i++) {
      const later = await api.read(jobId);
      expect(later.status).toBe(404);
      await sleep(300);
    }
  }, 90_000);

  it('the worker that takes over the cancelled job does not call the provider for it: the job ends cancelled', async () => {
    await waitFor(() => system.sim.stats().inFlight === 0, { timeoutMs: 15_000, message: 'a call still runs' });
    const prompt = 'cancelled, then taken over by a fresh worker';
    system.sim.configure({ latencyMs: 10_000 });
    const { jobId } = await api.submit(prompt);
    await waitFor(() => system.sim.stats().inFlight >= 1, { timeoutMs: 10_000, message: 'the job never ran' });
    for (const w of system.workers()) {
      w.child.kill('SIGKILL');
    }
    expect(await api.cancel(jobId)).toMatchObject({ status: 200, body: { status: 'running' } });

    // Started after the cancel was sent for the last time: it never heard it.
    system.sim.configure({ latencyMs: 0 });
    await system.addReplica('router-worker');
    const ended = await waitFor(
      async () => {
        const v = await api.read(jobId);
        return v.body.status === 'queued' || v.body.status === 'running' ? null : v;
      },
      { timeoutMs: 20_000 },
    );
    expect(ended).toMatchObject({ status: 200, body: { jobId, status: 'cancelled' } });
    // Only the first run's call, cut by its worker's death.
    expect(callsWith(system, prompt)).toBe(1);
  }, 60_000);

  it('a replay that ran a cancelled job again: once that run expired, the id reads as gone, not as the cancelled run', async () => {
    // No worker: the job stays queued.
    for (const w of system.workers()) {
      w.child.kill('SIGKILL');
      await w.exited;
    }
    const prompt = 'cancelled while queued, run again, expired';
    const first = await api.submit(prompt, 'cancel-rerun-expire');
    expect(first.status).toBe(202);
    expect(await api.cancel(first.jobId)).toMatchObject({ status: 200, body: { status: 'cancelled' } });
    // The replay runs the request again under the same id; a worker completes it.
    expect(await api.submit(prompt, 'cancel-rerun-expire')).toEqual(first);
    await system.addReplica('router-worker');
    await waitFor(async () => (await api.read(first.jobId)).body.status === 'completed', { timeoutMs: 20_000 });

    // Past that run's retention the id is gone (404) on every read: the first run's cancel record, kept up to that
    // run's deadline plus the retention, does not stand in for it.
    await waitFor(async () => (await api.read(first.jobId)).status === 404, { timeoutMs: 40_000, intervalMs: 500 });
    for (let i = 0; i < 3; i++) {
      expect((await api.read(first.jobId)).status).toBe(404);
      await sleep(300);
    }
    expect(callsWith(system, prompt)).toBe(1);
  }, 90_000);
});
