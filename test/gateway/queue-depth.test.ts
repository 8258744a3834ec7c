import { waitFor } from '@aigw/testing';
import { GatewayHarness, type GenerateJob } from './support';

/**
 * `aigw_queue_jobs{queue,state}` is served by the api-gateway too, not only by the router-workers: when no worker
 * runs (all crashed, none deployed yet), the gateway's scrape is the only one left, and the backlog must show there.
 */
describe("the api-gateway's aigw_queue_jobs", () => {
  const h = new GatewayHarness();

  beforeAll(() => h.start(), 60_000);
  afterAll(() => h.stop(), 30_000);

  async function queueJobs(queue: string, state: string): Promise<number | null> {
    const text = await (await fetch(`${h.url}/metrics`)).text();
    const m = new RegExp(`^aigw_queue_jobs\\{queue="${queue}",state="${state}"\\} (\\S+)$`, 'm').exec(text);
    return m === null ? null : Number(m[1]);
  }

  it('reports the generation queue read from Redis at scrape time', async () => {
    const held: Array<() => void> = [];
    h.handle(async (job: GenerateJob) => {
      await new Promise<void>((resolve) => held.push(resolve));
      return h.answer(job, 'late');
    });
    for (const prompt of ['one', 'two', 'three']) {
      const res = await h.post('/api/v1/ai/jobs', { model: 'sim-gpt', prompt });
      expect(res.status).toBe(202);
    }
    try {
      await waitFor(() => held.length === 3, { timeoutMs: 10_000 });

      expect(await queueJobs('generation', 'active')).toBe(3);
      expect(await queueJobs('generation', 'waiting')).toBe(0);
      expect(await queueJobs('usage', 'failed')).toBe(0);
    } finally {
      // The stand-in worker closes only once its jobs ended.
      held.forEach((release) => release());
    }
    await waitFor(async () => (await queueJobs('generation', 'completed')) === 3, { timeoutMs: 10_000 });
    expect(await queueJobs('generation', 'active')).toBe(0);
  });
});
