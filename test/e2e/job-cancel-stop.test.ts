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

const callsWith = (system: TestSystem, text: string): number =>
  system.sim
    .lastRequests()
    .map((r) => JSON.stringify(r.body))
    .filter((b) => b.includes(text)).length;

describe('an async replay of a running job, then a cancel its worker is slow to carry out (e2e)', () => {
  // Locks long enough that a worker paused for seconds keeps its job (no stall, no re-run).
  const system = new TestSystem({
    workers: 1,
    env: { RETRY_MAX: '0', WORKER_LOCK_MS: '30000', WORKER_STALLED_INTERVAL_MS: '30000' },
  });
  let key = '';
  const api = jobsApi(system, () => key);

  beforeAll(async () => {
    await system.start();
    const user = await system.admin<{ id: string }>('POST', '/users', { name: 'replay-then-cancel' });
    key = (await system.admin<{ key: string }>('POST', '/keys', { userId: user.id })).key;
  }, 90_000);

  afterAll(() => system.stop(), 30_000);

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
