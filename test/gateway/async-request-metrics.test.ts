import { GatewayHarness } from './support';

/**
 * `aigw_requests_total` counts an accepted async job once, by how it ended: the router-worker that ran it counts it,
 * and when no worker ever runs it, the gateway that ended it does. A job its owner cancelled while it waited in the
 * queue (removed before any worker took it) was counted nowhere, while one cancelled a moment later, as a worker ran
 * it, was counted `client_closed_request`: the same request, counted or not by when its owner cancelled it.
 */
describe('aigw_requests_total and async jobs that no worker runs', () => {
  const h = new GatewayHarness();

  beforeAll(async () => {
    await h.start();
    // No job may be taken: a cancel removes each one from the queue.
    await h.queue.pause();
  }, 60_000);
  afterAll(() => h.stop(), 30_000);

  async function requests(labels: string): Promise<number> {
    const text = await (await fetch(`${h.url}/metrics`)).text();
    return Number(new RegExp(`^aigw_requests_total\\{${labels}\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  }

  const CANCELLED = 'provider="none",model="none",status="client_closed_request",cache="bypass"';

  it('counts a queued job its owner cancelled once, as the worker counts a running one: client_closed_request', async () => {
    const before = await requests(CANCELLED);
    const accepted = await h.post('/api/v1/ai/jobs', { model: 'sim-gpt', prompt: 'cancelled while queued' });
    expect(accepted.status).toBe(202);
    const { jobId } = (await accepted.json()) as { jobId: string };

    const cancel = await h.post(`/api/v1/ai/jobs/${jobId}/cancel`, undefined);
    expect(cancel.status).toBe(200);
    expect(((await cancel.json()) as { status: string }).status).toBe('cancelled');
    expect(await h.queue.getJob(jobId)).toBeUndefined();
    expect(await requests(CANCELLED)).toBe(before + 1);

    // Cancelled again (the job is gone; its record answers): the same request, not counted again.
    const again = await h.post(`/api/v1/ai/jobs/${jobId}/cancel`, undefined);
    expect(again.status).toBe(200);
    expect(await requests(CANCELLED)).toBe(before + 1);
  });
});
