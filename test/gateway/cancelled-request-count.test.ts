import { call, createKey, createUser } from './admin/admin-support';
import { GatewayHarness } from './support';

/**
 * A request nobody served and nothing records (an async job its owner cancelled while it waited in the queue) is given
 * back whole: its spend reservation, and its place in the day's and month's request quotas. usage_records hold no row
 * of it, so the quota views and a rebuild of the counters (after Redis lost them) never counted it, while the live
 * counter kept it: two cancelled jobs used up a daily limit of 2, and the third request was refused quota_exceeded.
 */
describe('request quotas and async jobs cancelled while queued', () => {
  const h = new GatewayHarness();

  beforeAll(async () => {
    await h.start();
    // No job may be taken: a cancel removes each one from the queue.
    await h.queue.pause();
  }, 60_000);
  afterAll(() => h.stop(), 30_000);

  for (const [user, name, limits] of [
    ['cancel-count-alone', 'a request limit alone', { dailyRequestLimit: 2, monthlyRequestLimit: 2 }],
    ['cancel-count-spend', 'a request limit beside a spend limit', { dailyRequestLimit: 2, dailySpendLimitUsd: 5 }],
  ] as const) {
    it(`gives back the request count of a cancelled queued job (${name})`, async () => {
      const u = await createUser(h, user);
      expect((await call(h, 'PUT', `/api/v1/ai/admin/quotas/${u.id}`, limits)).status).toBe(200);
      const key = (await createKey(h, { userId: u.id })).key;
      for (let i = 0; i < 3; i++) {
        const accepted = await h.post(
          '/api/v1/ai/jobs',
          { model: 'sim-gpt', prompt: `cancelled while queued ${i}` },
          h.headers(key),
        );
        expect(accepted.status).toBe(202);
        const { jobId } = (await accepted.json()) as { jobId: string };
        const cancel = await h.post(`/api/v1/ai/jobs/${jobId}/cancel`, undefined, h.headers(key));
        expect(((await cancel.json()) as { status: string }).status).toBe('cancelled');
      }
      const usage = await call<{ quota: { dailyRequests: number } }>(h, 'GET', '/api/v1/ai/usage', undefined, key);
      expect(usage.body.quota.dailyRequests).toBe(0);
    });
  }
});
