import { waitFor } from '@aigw/testing';
import { Redis } from 'ioredis';
import { chat, GatewayHarness, REDIS_URL, type ErrorEnvelope, type GenerateJob } from './support';

interface JobView {
  status: string;
  result?: { text: string };
}

/**
 * What each kind of job leaves in Redis once it completed (ADR 0001): a sync job is removed by BullMQ as it
 * completes and its outcome kept by the worker for the read-back; an async job stays in BullMQ for
 * ASYNC_JOB_RETENTION_S.
 */
describe('job retention', () => {
  const h = new GatewayHarness({ SYNC_JOB_RETENTION_S: '1', REQUEST_TIMEOUT_MS: '20000' });
  const seen = new Map<string, GenerateJob>();
  let redis: Redis;

  beforeAll(async () => {
    await h.start();
    redis = new Redis(REDIS_URL);
  }, 60_000);
  afterAll(async () => {
    await redis.quit();
    await h.stop();
  }, 30_000);
  beforeEach(() =>
    h.handle((job) => {
      seen.set(job.id ?? '', job);
      return h.answer(job, 'kept');
    }),
  );

  async function jobOf(res: Response): Promise<GenerateJob> {
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    const id = res.headers.get('x-request-id') ?? '';
    const job = [...seen.values()].find((j) => j.data.request.requestId === id);
    expect(job).toBeDefined();
    return job as GenerateJob;
  }

  it('enqueues a sync job to be removed as it completes; its kept outcome goes once the request is answered', async () => {
    const job = await jobOf(await h.post('/v1/chat/completions', chat('plain')));
    expect(job.opts.removeOnComplete).toBe(true);
    expect(job.data.keepOutcomeMs).toBe(0);
    // The answer went out on the reply channel before the job completed.
    await waitFor(async () => (await h.queue.getJob(job.id ?? '')) === undefined, { message: 'job not removed' });
    // Kept by the worker until the deadline, released by the gateway that got its answer.
    await waitFor(async () => (await redis.exists(h.outcomeKey(job.id ?? ''))) === 0, {
      message: 'outcome not released',
    });
  });

  it('keeps an Idempotency-Key job outcome SYNC_JOB_RETENTION_S; the replay answers from it without a job', async () => {
    const headers = h.headers(h.adminKey, { 'idempotency-key': 'retained-1' });
    const job = await jobOf(await h.post('/v1/chat/completions', chat('keyed'), headers));
    expect(job.id).toMatch(/^idem_/);
    expect(job.data.keepOutcomeMs).toBe(1000);
    // Kept for replays: until the deadline (20 s) plus 10 s here, since that is longer than SYNC_JOB_RETENTION_S.
    await waitFor(async () => (await redis.pttl(h.outcomeKey(job.id ?? ''))) > 25_000, { message: 'outcome not kept' });
    await new Promise((r) => setTimeout(r, 300));
    expect(await redis.exists(h.outcomeKey(job.id ?? ''))).toBe(1);
    // The answer went out on the reply channel before the job completed.
    await waitFor(async () => (await h.queue.getJob(job.id ?? '')) === undefined, { message: 'job not removed' });
    const before = h.jobsSeen.length;
    const replay = await h.post('/v1/chat/completions', chat('keyed'), headers);
    expect(replay.status).toBe(200);
    expect(((await replay.json()) as { choices: { message: { content: string } }[] }).choices[0].message.content).toBe(
      'kept',
    );
    expect(h.jobsSeen.length).toBe(before);
  });

  it('keeps an async job in BullMQ, readable after sync jobs completed past SYNC_JOB_RETENTION_S', async () => {
    const accepted = await h.post('/api/v1/ai/jobs', { prompt: 'async', model: 'sim-gpt' });
    expect(accepted.status).toBe(202);
    const { jobId } = (await accepted.json()) as { jobId: string };
    await waitFor(async () => (await h.queue.getJob(jobId))?.finishedOn !== undefined);
    expect((await h.queue.getJob(jobId))?.opts.removeOnComplete).toEqual({ age: 86_400 });
    expect((await h.queue.getJob(jobId))?.data.keepOutcomeMs).toBeUndefined();
    // BullMQ's age-based removal sweeps the whole completed set with the age of the job completing: sync jobs kept
    // there for SYNC_JOB_RETENTION_S (1 s here) used to delete this one.
    await new Promise((r) => setTimeout(r, 1_500));
    await jobOf(await h.post('/v1/chat/completions', chat('sweeper')));
    await jobOf(
      await h.post(
        '/v1/chat/completions',
        chat('keyed sweeper'),
        h.headers(h.adminKey, { 'idempotency-key': 'sweeper' }),
      ),
    );
    const view = (await (await h.get(`/api/v1/ai/jobs/${jobId}`)).json()) as JobView;
    expect(view).toMatchObject({ status: 'completed', result: { text: 'kept' } });
  });
});

/**
 * BullMQ removes a finished job past its `removeOnComplete` age only when a later job of the queue finishes and sweeps
 * by that age: on a queue with no async job finishing since, an async job's result stayed readable (and in Redis) past
 * ASYNC_JOB_RETENTION_S for good.
 */
describe('async job retention on a quiet queue', () => {
  // Long enough that the "still readable" reads cannot land past it however slow the machine; time is moved on by
  // dating the job's completion back in Redis, which is all the gateway measures the retention from.
  const RETENTION_S = 600;
  const h = new GatewayHarness({ ASYNC_JOB_RETENTION_S: String(RETENTION_S) });

  let redis: Redis;

  beforeAll(async () => {
    await h.start();
    redis = new Redis(REDIS_URL);
  }, 60_000);
  afterAll(async () => {
    await redis.quit();
    await h.stop();
  }, 30_000);

  /** Make the job look finished `agoMs` before now. */
  async function finishedAgo(jobId: string, agoMs: number): Promise<void> {
    await redis.hset(h.queue.toKey(jobId), 'finishedOn', String(Date.now() - agoMs));
  }

  it('404 for an async job read past ASYNC_JOB_RETENTION_S, and it leaves Redis', async () => {
    const accepted = await h.post('/api/v1/ai/jobs', { prompt: 'short-lived', model: 'sim-gpt' });
    expect(accepted.status).toBe(202);
    const { jobId } = (await accepted.json()) as { jobId: string };
    await waitFor(async () => (await h.queue.getJob(jobId))?.finishedOn !== undefined);
    const fresh = await h.get(`/api/v1/ai/jobs/${jobId}`);
    expect(((await fresh.json()) as JobView).status).toBe('completed');
    // A minute short of its retention: still there.
    await finishedAgo(jobId, (RETENTION_S - 60) * 1000);
    const old = await h.get(`/api/v1/ai/jobs/${jobId}`);
    expect(((await old.json()) as JobView).status).toBe('completed');

    await finishedAgo(jobId, RETENTION_S * 1000 + 1);
    const expired = await h.get(`/api/v1/ai/jobs/${jobId}`);
    expect(expired.status).toBe(404);
    const body = (await expired.json()) as ErrorEnvelope;
    expect(body).toMatchObject({ error: { code: 'not_found', param: 'id' } });
    // Its owner is told why: the job expired, kept ASYNC_JOB_RETENTION_S after it finished.
    expect(body.error.message).toMatch(/expired/);
    expect(body.error.message).toContain(`${RETENTION_S} s`);
    await waitFor(async () => (await h.queue.getJob(jobId)) === undefined, { message: 'expired job still in Redis' });
    // Once it is gone from Redis, an id the gateway cannot tell from an unknown one: the 404 names the retention.
    const gone = (await (await h.get(`/api/v1/ai/jobs/${jobId}`)).json()) as ErrorEnvelope;
    expect(gone.error).toMatchObject({ code: 'not_found', param: 'id' });
    expect(gone.error.message).toContain(`${RETENTION_S} s`);
  });

  it('an Idempotency-Key replay of a job past its retention runs the request again, as when it was swept', async () => {
    const headers = h.headers(h.adminKey, { 'idempotency-key': 'replay-past-retention' });
    const accepted = await h.post('/api/v1/ai/jobs', { prompt: 'kept an hour', model: 'sim-gpt' }, headers);
    expect(accepted.status).toBe(202);
    const { jobId } = (await accepted.json()) as { jobId: string };
    await waitFor(async () => (await h.queue.getJob(jobId))?.finishedOn !== undefined);
    const before = h.jobsSeen.length;
    // Past ASYNC_JOB_RETENTION_S, within IDEMPOTENCY_TTL_S: the key still binds the body, its job is gone.
    await finishedAgo(jobId, RETENTION_S * 1000 + 1);
    const replay = await h.post('/api/v1/ai/jobs', { prompt: 'kept an hour', model: 'sim-gpt' }, headers);
    expect(replay.status).toBe(202);
    // Not `completed`: a job the client could not read (GET answers 404 for it).
    expect(await replay.json()).toEqual({ jobId, status: 'queued' });
    expect(replay.headers.get('x-gateway-idempotent-replay')).toBeNull();
    const view = await waitFor(async () => {
      const res = await h.get(`/api/v1/ai/jobs/${jobId}`);
      return res.status === 200 ? ((await res.json()) as JobView) : null;
    });
    expect(view.status === 'queued' || view.status === 'running' || view.status === 'completed').toBe(true);
    await waitFor(() => Promise.resolve(h.jobsSeen.length === before + 1), {
      message: 'the request did not run again',
    });
  });

  it('a job whose answer came before its cancel is not read as cancelled once BullMQ swept it', async () => {
    h.handle(async (job) => {
      await new Promise((r) => setTimeout(r, 1_000));
      return h.answer(job, 'answered first');
    });
    const accepted = await h.post('/api/v1/ai/jobs', { prompt: 'cancelled too late', model: 'sim-gpt' });
    const { jobId } = (await accepted.json()) as { jobId: string };
    await waitFor(async () => (await h.queue.getJob(jobId))?.processedOn !== undefined);
    const cancel = await h.post(`/api/v1/ai/jobs/${jobId}/cancel`, undefined);
    expect(cancel.status).toBe(200);
    expect(((await cancel.json()) as JobView).status).toBe('completed');
    h.handle((job) => h.answer(job, 'ok'));
    // BullMQ's sweep of the completed set, past its retention.
    await h.queue.remove(jobId);
    const gone = await h.get(`/api/v1/ai/jobs/${jobId}`);
    expect(gone.status).toBe(404);
  });

  it('another key reading an expired job gets the 404 of an unknown job, not that it expired', async () => {
    const accepted = await h.post('/api/v1/ai/jobs', { prompt: 'not yours', model: 'sim-gpt' });
    const { jobId } = (await accepted.json()) as { jobId: string };
    await waitFor(async () => (await h.queue.getJob(jobId))?.finishedOn !== undefined);
    await finishedAgo(jobId, RETENTION_S * 1000 + 1);
    const other = await h.userKey('retention-other');
    const res = await h.get(`/api/v1/ai/jobs/${jobId}`, h.headers(other));
    expect(res.status).toBe(404);
    const unknown = await h.get('/api/v1/ai/jobs/req_00000000000000000000000000000000', h.headers(other));
    expect(await res.json()).toEqual(await unknown.json());
  });

  it('a job that failed in the queue is kept FAILED_RETENTION_S (a day), whatever ASYNC_JOB_RETENTION_S is', async () => {
    h.handle(() => Promise.reject(new Error('worker lost its Redis')));
    const accepted = await h.post('/api/v1/ai/jobs', { prompt: 'crashes', model: 'sim-gpt' });
    const { jobId } = (await accepted.json()) as { jobId: string };
    await waitFor(async () => (await h.queue.getJob(jobId))?.finishedOn !== undefined, { timeoutMs: 15_000 });
    h.handle((job) => h.answer(job, 'ok'));
    // Past ASYNC_JOB_RETENTION_S: a failed job is still readable.
    await finishedAgo(jobId, RETENTION_S * 1000 + 1);
    const failed = await h.get(`/api/v1/ai/jobs/${jobId}`);
    expect(failed.status).toBe(200);
    expect(((await failed.json()) as JobView).status).toBe('failed');
    await finishedAgo(jobId, 86_400 * 1000 + 1);
    const expired = await h.get(`/api/v1/ai/jobs/${jobId}`);
    expect(expired.status).toBe(404);
    const body = (await expired.json()) as ErrorEnvelope;
    expect(body.error).toMatchObject({ code: 'not_found', param: 'id' });
    expect(body.error.message).toMatch(/expired/);
    expect(body.error.message).toContain('86400 s');
  }, 30_000);
});
