import { waitFor } from '@aigw/testing';
import { call, createKey, createUser } from './admin/admin-support';
import { GatewayHarness, lastUserText, sleep, type ErrorEnvelope } from './support';

interface JobView {
  jobId: string;
  status: string;
  result?: { text: string };
}

/**
 * An Idempotency-Key past IDEMPOTENCY_TTL_S is free again: the next request under it is a new request. Its job id is
 * the key's, though, and an async job of the earlier run outlives the key with the default settings (it is kept
 * ASYNC_JOB_RETENTION_S after it finished, and stays in BullMQ until a later job's sweep).
 */
describe('Idempotency-Key after its TTL', () => {
  const h = new GatewayHarness({ IDEMPOTENCY_TTL_S: '1', REQUEST_TIMEOUT_MS: '20000' });

  beforeAll(() => h.start(), 60_000);
  afterAll(() => h.stop(), 30_000);
  beforeEach(() => h.handle((job) => h.answer(job, lastUserText(job.data.request))));

  const view = async (jobId: string, key: string): Promise<JobView> =>
    (await (await h.get(`/api/v1/ai/jobs/${jobId}`, h.headers(key))).json()) as JobView;

  it('an async job under an expired key runs the new request, and it is counted once', async () => {
    const user = await createUser(h, 'idem-expired-async');
    await call(h, 'PUT', `/api/v1/ai/admin/quotas/${user.id}`, { dailyRequestLimit: 100 });
    const key = (await createKey(h, { userId: user.id })).key;
    const headers = h.headers(key, { 'idempotency-key': 'expiring-async' });
    const first = await h.post('/api/v1/ai/jobs', { prompt: 'first body' }, headers);
    expect(first.status).toBe(202);
    const { jobId } = (await first.json()) as { jobId: string };
    await waitFor(async () => (await view(jobId, key)).status === 'completed');
    await sleep(1_500);

    const before = h.jobsSeen.length;
    const second = await h.post('/api/v1/ai/jobs', { prompt: 'second body' }, headers);
    expect(second.status).toBe(202);
    expect((await second.json()) as { jobId: string; status: string }).toEqual({ jobId, status: 'queued' });
    const done = await waitFor(async () => {
      const v = await view(jobId, key);
      return v.status === 'completed' && v.result?.text === 'second body' ? v : null;
    });
    expect(done.result?.text).toBe('second body');
    expect(h.jobsSeen.length - before).toBe(1);
    const quota = await call<{ dailyRequests: number }>(h, 'GET', `/api/v1/ai/admin/quotas/${user.id}`);
    expect(quota.body.dailyRequests).toBe(2);
  });

  it('a job of the expired key still queued makes the new request a 409 until it ended; then it runs', async () => {
    const headers = h.headers(h.adminKey, { 'idempotency-key': 'expiring-queued' });
    await h.queue.pause();
    let jobId: string;
    try {
      const first = await h.post('/api/v1/ai/jobs', { prompt: 'slow first' }, headers);
      expect(first.status).toBe(202);
      jobId = ((await first.json()) as { jobId: string }).jobId;
      await sleep(1_500);
      const busy = await h.post('/api/v1/ai/jobs', { prompt: 'other body' }, headers);
      expect(busy.status).toBe(409);
      expect(((await busy.json()) as ErrorEnvelope).error).toMatchObject({
        code: 'idempotency_key_reused',
        param: 'Idempotency-Key',
      });
    } finally {
      await h.queue.resume();
    }
    await waitFor(async () => (await view(jobId, h.adminKey)).result?.text === 'slow first');
    const again = await h.post('/api/v1/ai/jobs', { prompt: 'other body' }, headers);
    expect(again.status).toBe(202);
    await waitFor(async () => (await view(jobId, h.adminKey)).result?.text === 'other body');
  });
});
