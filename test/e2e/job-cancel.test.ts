import { waitFor } from '@aigw/testing';
import { TestSystem } from './harness';

interface JobView {
  jobId: string;
  status: string;
  createdAt: string;
  finishedAt?: string;
  error?: { message: string; type: string; code: string; param: string | null };
}

/**
 * `POST /api/v1/ai/jobs/:id/cancel`: a queued job leaves the queue without a provider call and gives its reservation
 * back; a running one is aborted by its worker (the provider call cut, what was generated billed); a finished one is a
 * 409; another user's job a 404. Cancelling again answers the same state.
 */
/** Submits an async job with `key` (and an Idempotency-Key when given): the answer's status and job id. */
async function submitJob(
  system: TestSystem,
  key: string,
  prompt: string,
  idempotencyKey?: string,
): Promise<{ status: number; jobId: string }> {
  const headers = system.headers(key);
  const res = await fetch(`${system.gatewayUrl}/api/v1/ai/jobs`, {
    method: 'POST',
    headers: idempotencyKey === undefined ? headers : { ...headers, 'idempotency-key': idempotencyKey },
    body: JSON.stringify({ model: 'sim-gpt', prompt }),
  });
  return { status: res.status, jobId: ((await res.json()) as { jobId: string }).jobId };
}

/** The job as `key`'s owner reads it (200 expected). */
async function readJob(system: TestSystem, jobId: string, key: string): Promise<JobView> {
  const res = await fetch(`${system.gatewayUrl}/api/v1/ai/jobs/${jobId}`, { headers: system.headers(key) });
  expect(res.status).toBe(200);
  return (await res.json()) as JobView;
}

/** `aigw_requests_total` of async jobs cancelled by their owner, as served on `url`'s `/metrics`. */
async function cancelledRequests(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const labels = 'provider="none",model="none",status="client_closed_request",cache="bypass"';
  return Number(new RegExp(`^aigw_requests_total\\{${labels}\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
}

describe('cancelling an async job (e2e)', () => {
  // Split topology without workers: the first job must stay queued until the test adds one.
  const system = new TestSystem({ topology: 'split', workers: 0, env: { RETRY_MAX: '0' } });
  let owner = { id: '', key: '' };
  let otherKey = '';

  beforeAll(async () => {
    await system.start();
    const user = await system.admin<{ id: string }>('POST', '/users', { name: 'job-owner' });
    // A spend limit makes admission reserve each job's worst-case cost, which a job that never runs must give back.
    await system.admin('PUT', `/quotas/${user.id}`, { dailySpendLimitUsd: 10 });
    owner = { id: user.id, key: (await system.admin<{ key: string }>('POST', '/keys', { userId: user.id })).key };
    const stranger = await system.admin<{ id: string }>('POST', '/users', { name: 'someone-else' });
    otherKey = (await system.admin<{ key: string }>('POST', '/keys', { userId: stranger.id })).key;
  }, 90_000);

  afterAll(async () => {
    await system.stop();
  }, 30_000);

  async function submit(prompt: string, idempotencyKey?: string): Promise<string> {
    const { status, jobId } = await submitJob(system, owner.key, prompt, idempotencyKey);
    expect(status).toBe(202);
    return jobId;
  }

  async function cancel(jobId: string, key = owner.key): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(`${system.gatewayUrl}/api/v1/ai/jobs/${jobId}/cancel`, {
      method: 'POST',
      headers: system.headers(key),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  const read = (jobId: string, key = owner.key): Promise<JobView> => readJob(system, jobId, key);

  const spentToday = async (): Promise<number> =>
    (await system.admin<{ dailySpendUsd: number }>('GET', `/quotas/${owner.id}`)).dailySpendUsd;

  it('a queued job: removed without a provider call, its reservation given back; twice the same; others get 404', async () => {
    const jobId = await submit('never to be generated');
    expect(await spentToday()).toBeGreaterThan(0);

    // Another user's key: the job does not exist for it, and stays queued.
    const foreign = await cancel(jobId, otherKey);
    expect(foreign).toEqual({
      status: 404,
      body: {
        error: {
          message: expect.stringMatching(/^No job with this id\. /) as unknown,
          type: 'not_found_error',
          code: 'not_found',
          param: 'id',
        },
      },
    });
    expect((await read(jobId)).status).toBe('queued');

    const first = await cancel(jobId);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ jobId, status: 'cancelled' });
    expect(first.body.finishedAt).toEqual(expect.any(String));
    expect(await cancel(jobId)).toEqual(first);
    expect(await read(jobId)).toEqual(first.body);
    // The admin key reads (and may cancel) any job.
    expect(await cancel(jobId, system.adminKey)).toEqual(first);
    // No worker will count it: the gateway that removed it did, once, as a worker counts one it runs (below).
    expect(await cancelledRequests(system.gatewayUrl)).toBe(1);
    // Given back once: nothing else was reserved.
    expect(await spentToday()).toBe(0);

    // A job under an Idempotency-Key, cancelled while queued: a replay runs it again under the same id, which is not
    // cancelled (the cancel was the earlier run's).
    const keyed = await submit('cancelled, then asked again', 'cancel-then-replay');
    expect((await cancel(keyed)).body).toMatchObject({ status: 'cancelled' });
    expect(await submit('cancelled, then asked again', 'cancel-then-replay')).toBe(keyed);
    expect((await read(keyed)).status).toBe('queued');

    // A worker now starts: it finds nothing to run of the cancelled job, and the provider is never asked for it.
    await system.addReplica('router-worker');
    const later = await submit('after the cancel');
    await waitFor(async () => (await read(later)).status === 'completed', { timeoutMs: 30_000 });
    await waitFor(async () => (await read(keyed)).status === 'completed', { timeoutMs: 30_000 });
    expect(
      system.sim
        .lastRequests()
        .map((r) => JSON.stringify(r.body))
        .sort(),
    ).toEqual([expect.stringContaining('after the cancel'), expect.stringContaining('cancelled, then asked again')]);
    expect(await read(jobId)).toEqual(first.body);

    // A finished job cannot be cancelled: 409 in the standard envelope.
    const finished = await cancel(later);
    expect(finished.status).toBe(409);
    expect(finished.body).toEqual({
      error: {
        message: 'The job is already completed; only a queued or running job can be cancelled.',
        type: 'conflict_error',
        code: 'conflict',
        param: 'id',
      },
    });
    expect((await read(later)).status).toBe('completed');
  }, 90_000);

  it('a running job: its worker cuts the provider call, it ends cancelled with what was generated billed', async () => {
    if (system.workers().length === 0) {
      await system.addReplica('router-worker');
    }
    // The provider takes 5 s to answer: the job is running while the cancel arrives.
    system.sim.configure({ latencyMs: 5_000 });
    system.sim.reset();
    const before = await spentToday();
    const jobId = await submit('a long answer');
    expect(await spentToday()).toBeGreaterThan(before);
    await waitFor(() => system.sim.stats().inFlight >= 1, { timeoutMs: 10_000, message: 'the job never ran' });
    expect((await read(jobId)).status).toBe('running');
    expect((await cancel(jobId, otherKey)).status).toBe(404);

    const answered = await cancel(jobId);
    expect(answered.status).toBe(200);
    const view = await waitFor(async () => {
      const v = await read(jobId);
      return v.status === 'running' ? null : v;
    });
    expect(view).toMatchObject({ jobId, status: 'cancelled', finishedAt: expect.any(String) });
    await waitFor(() => system.sim.stats().cancelled >= 1, { message: 'the provider call was not cut' });
    expect(system.sim.stats().byRoute['POST /v1/chat/completions']).toBe(1);
    expect(await cancel(jobId)).toEqual({ status: 200, body: view });

    // Billed as a sync request whose client left: a usage row of the cut call, with what the provider reported (a
    // non-streamed call cut before its answer reported nothing: 0 tokens, as for a sync request).
    const rows = await waitFor(
      async () => {
        const found = await system.query<{ status: string; error_class: string; error_code: string }>(
          'SELECT status, error_class, error_code FROM usage_records WHERE user_id = $1 AND error_class = $2',
          [owner.id, 'cancelled'],
        );
        return found.length > 0 ? found : null;
      },
      { message: 'no usage row for the cancelled job' },
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]).toEqual({ status: 'error', error_class: 'cancelled', error_code: 'client_closed_request' });
    // Counted once, by its worker, with the labels the gateway gave the queued one it removed (first test).
    const [worker] = system.workers();
    expect(await cancelledRequests(`http://127.0.0.1:${worker.port}`)).toBe(1);
    // Settled by the worker to what the cut call reported (nothing): the reservation is given back.
    await waitFor(async () => Math.abs((await spentToday()) - before) < 1e-9, { message: 'the reservation stays' });
  }, 60_000);
});

/**
 * The cancel message is broadcast to every worker; one not running the job remembers it for a while, in case the job
 * starts there later. An Idempotency-Key replay runs the cancelled job id again: that run is not the cancelled one
 * and must not be aborted by the memory of the earlier run's cancel (nor refused by its cancel mark).
 */
describe('cancelling an async job, then replaying it under its Idempotency-Key (e2e)', () => {
  // One job at a time: the keyed job stays queued behind the first while the worker is up and hears the cancel.
  const system = new TestSystem({
    topology: 'split',
    workers: 1,
    env: { RETRY_MAX: '0' },
    appEnv: { 'router-worker': { WORKER_CONCURRENCY: '1' } },
  });
  let key = '';

  beforeAll(async () => {
    await system.start();
    const user = await system.admin<{ id: string }>('POST', '/users', { name: 'replayer' });
    key = (await system.admin<{ key: string }>('POST', '/keys', { userId: user.id })).key;
  }, 90_000);

  afterAll(async () => {
    await system.stop();
  }, 30_000);

  const submit = (prompt: string, idempotencyKey?: string): Promise<{ status: number; jobId: string }> =>
    submitJob(system, key, prompt, idempotencyKey);
  const read = (jobId: string): Promise<JobView> => readJob(system, jobId, key);

  it('the replay runs to completion on the worker that heard the cancel', async () => {
    // Longer than a replay waits for a cancelled run to stop: the keyed job stays queued throughout.
    system.sim.configure({ latencyMs: 6_000 });
    const first = await submit('keeps the only worker slot busy');
    expect(first.status).toBe(202);
    await waitFor(() => system.sim.stats().inFlight >= 1, { timeoutMs: 10_000, message: 'the first job never ran' });

    const keyed = await submit('cancelled while queued, then asked again', 'replay-after-cancel');
    expect(keyed.status).toBe(202);
    expect((await read(keyed.jobId)).status).toBe('queued');
    const cancelled = await fetch(`${system.gatewayUrl}/api/v1/ai/jobs/${keyed.jobId}/cancel`, {
      method: 'POST',
      headers: system.headers(key),
    });
    expect(cancelled.status).toBe(200);
    expect(((await cancelled.json()) as JobView).status).toBe('cancelled');

    // Replayed at once (well within the worker's memory of the cancel): a new run under the same job id.
    system.sim.configure({ latencyMs: 0 });
    expect(await submit('cancelled while queued, then asked again', 'replay-after-cancel')).toEqual({
      status: 202,
      jobId: keyed.jobId,
    });
    // Another replay while that run waits watches it (the earlier run's cancel mark does not make it wait for that run
    // to stop, then answer 503).
    expect(await submit('cancelled while queued, then asked again', 'replay-after-cancel')).toEqual({
      status: 202,
      jobId: keyed.jobId,
    });
    const view = await waitFor(
      async () => {
        const v = await read(keyed.jobId);
        return v.status === 'queued' || v.status === 'running' ? null : v;
      },
      { timeoutMs: 30_000 },
    );
    expect(view.status).toBe('completed');
    expect((await read(first.jobId)).status).toBe('completed');
    expect(
      system.sim
        .lastRequests()
        .map((r) => JSON.stringify(r.body))
        .filter((b) => b.includes('cancelled while queued')),
    ).toHaveLength(1);
  }, 60_000);
});
