import { waitFor } from '@aigw/testing';
import { RedisKeys } from '@aigw/platform';
import { Redis } from 'ioredis';
import { AdmissionService } from '../../apps/api-gateway/src/admission/admission.service';
import { IdempotencyService, RUN_HOLD_MS } from '../../apps/api-gateway/src/generation/idempotency.service';
import { idempotentJobId } from '../../apps/api-gateway/src/generation/idempotency';
import { call, createKey, createUser } from './admin/admin-support';
import { chat, GatewayHarness, lastUserText, REDIS_URL, sleep, type ErrorEnvelope } from './support';

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

/**
 * The claim of an Idempotency-Key used to expire at IDEMPOTENCY_TTL_S from its request's arrival even while that
 * request was still on its way to its job (admission held by a slow Redis or quota rebuild): a request under the key
 * arriving then claimed it afresh, found no job and queued its own under the key's job id; the first request's add then
 * added nothing (BullMQ keeps the job it has), so it was admitted and charged for a job that never ran, and answered
 * with the other request's job, another body's answer. The claim now outlives the run that holds it.
 */
describe('Idempotency-Key expiring while its first request is still on its way to its job', () => {
  const h = new GatewayHarness({ IDEMPOTENCY_TTL_S: '1', REQUEST_TIMEOUT_MS: '20000' });
  const SLOW = 'slow admission';

  beforeAll(async () => {
    await h.start();
    const admission = h.app.get(AdmissionService);
    const admit = admission.admit.bind(admission);
    jest.spyOn(admission, 'admit').mockImplementation(async (caller, request) => {
      if (lastUserText(request).startsWith(SLOW)) {
        await sleep(1_600);
      }
      return admit(caller, request);
    });
  }, 60_000);
  afterAll(() => h.stop(), 30_000);
  beforeEach(() => h.handle((job) => h.answer(job, lastUserText(job.data.request))));

  it("async: the first request's job runs its own body; a request with another body under the key is a 409", async () => {
    const headers = h.headers(h.adminKey, { 'idempotency-key': 'expiring-in-admission-async' });
    const before = h.jobsSeen.length;
    const first = h.post('/api/v1/ai/jobs', { prompt: `${SLOW} async` }, headers);
    await sleep(1_200);
    const second = await h.post('/api/v1/ai/jobs', { prompt: 'other body async' }, headers);
    const firstRes = await first;
    expect(firstRes.status).toBe(202);
    const { jobId } = (await firstRes.json()) as { jobId: string };
    const done = await waitFor(async () => {
      const v = (await (await h.get(`/api/v1/ai/jobs/${jobId}`)).json()) as JobView;
      return v.status === 'completed' ? v : null;
    });
    expect(done.result?.text).toBe(`${SLOW} async`);
    expect(h.jobsSeen.length - before).toBe(1);
    expect(second.status).toBe(409);
    expect(((await second.json()) as ErrorEnvelope).error).toMatchObject({
      code: 'idempotency_key_reused',
      param: 'Idempotency-Key',
    });
    // Held no longer than the run: past its TTL once its job is queued, the key takes a new request.
    const third = await h.post('/api/v1/ai/jobs', { prompt: 'third body async' }, headers);
    expect(third.status).toBe(202);
    await waitFor(async () => {
      const v = (await (await h.get(`/api/v1/ai/jobs/${jobId}`)).json()) as JobView;
      return v.result?.text === 'third body async';
    });
  });

  it("sync: the first request is answered from its own body, never from the later request's job", async () => {
    const headers = h.headers(h.adminKey, { 'idempotency-key': 'expiring-in-admission-sync' });
    const first = h.post('/v1/chat/completions', chat(`${SLOW} sync`), headers);
    await sleep(1_200);
    const second = await h.post('/v1/chat/completions', chat('other body sync'), headers);
    const firstRes = await first;
    expect(firstRes.status).toBe(200);
    const answer = (await firstRes.json()) as { choices: { message: { content: string } }[] };
    expect(answer.choices[0].message.content).toBe(`${SLOW} sync`);
    expect(second.status).toBe(409);
  });
});

/**
 * A replay that takes the key's run (its job is gone or was never carried out) as the claim is about to expire: the
 * claim kept its TTL, so it could lapse a moment later while the replay was on its way to its job, and a request with
 * another body then claimed the key afresh and queued under the key's job id.
 */
describe('Idempotency-Key run taken as its claim expires', () => {
  const h = new GatewayHarness({ IDEMPOTENCY_TTL_S: '1' });
  let redis: Redis;

  beforeAll(async () => {
    await h.start();
    redis = new Redis(REDIS_URL);
  }, 60_000);
  afterAll(async () => {
    await redis.quit();
    await h.stop();
  }, 30_000);

  it('the claim lives as long as the run taken on it is held; the fresh claim is back to its TTL as its run ends', async () => {
    const idem = h.app.get(IdempotencyService);
    const apiKeyId = 'key-expiring-take';
    const jobId = idempotentJobId(apiKeyId, 'k');
    const claimKey = h.app.get(RedisKeys).key('idem', jobId);
    const body = { prompt: 'same body' };
    const now = Date.now();
    const first = await idem.claim(apiKeyId, 'k', 'jobs', body, 'req_first', {
      receivedAt: now,
      deadlineAt: now + 60_000,
    });
    expect(first.fresh).toBe(true);
    // Held while its run is: longer than IDEMPOTENCY_TTL_S.
    expect(await redis.pttl(claimKey)).toBeGreaterThan(RUN_HOLD_MS - 1_000);
    idem.unlock(first);
    await waitFor(async () => (await redis.pttl(claimKey)) <= 1_000, { message: 'claim not back to its TTL' });

    await sleep(850);
    expect(await idem.takeRun(jobId, 'jobs', body, 'req_replay')).toBe('taken');
    expect(await redis.pttl(claimKey)).toBeGreaterThan(RUN_HOLD_MS - 1_000);
    // Past what would have been its TTL, another body is still refused the key.
    await sleep(500);
    await expect(
      idem.claim(apiKeyId, 'k', 'jobs', { prompt: 'other body' }, 'req_other', {
        receivedAt: Date.now(),
        deadlineAt: Date.now() + 60_000,
      }),
    ).rejects.toMatchObject({ code: 'idempotency_key_reused' });
    await redis.del(claimKey);
  });
});
