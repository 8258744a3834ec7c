import { waitFor } from '@aigw/testing';
import { ReplyHub } from '../../apps/api-gateway/src/generation/reply-hub';
import { chat, GatewayHarness } from './support';

/**
 * What a single process (ADR 0010) asks its closing gateway before it stops its worker taking jobs: whether one of
 * the gateway's requests still needs a worker to take its job.
 */
describe('api-gateway: ReplyHub.awaitsWorker', () => {
  const h = new GatewayHarness();
  const hub = (): ReplyHub => h.app.get(ReplyHub);

  beforeAll(() => h.start(), 60_000);
  afterAll(() => h.stop(), 30_000);

  it('holds while a request is on its way to the queue; its release counts once however often it is called', async () => {
    expect(await hub().awaitsWorker()).toBe(false);
    const first = hub().arriving();
    const second = hub().arriving();
    first();
    first();
    expect(await hub().awaitsWorker()).toBe(true);
    second();
    expect(await hub().awaitsWorker()).toBe(false);
  });

  it('holds while its job waits in the queue, and no longer once a worker took it (before any message)', async () => {
    let release = (): void => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    h.handle(async (job) => {
      await held;
      return h.answer(job, 'taken late');
    });
    await h.queue.pause();
    try {
      const pending = h.post('/v1/chat/completions', chat('wait for a worker'));
      await waitFor(async () => (await h.queue.getJobs(['paused', 'waiting'])).length === 1, {
        message: 'job not queued',
      });
      expect(await hub().awaitsWorker()).toBe(true);
      await h.queue.resume();
      // Taken and held: no message comes for a sync job until its answer; the stored job says it runs.
      await waitFor(async () => (await h.queue.getJobs(['active'])).length === 1, { message: 'job not taken' });
      expect(await hub().awaitsWorker()).toBe(false);
      release();
      expect((await pending).status).toBe(200);
      expect(await hub().awaitsWorker()).toBe(false);
    } finally {
      release();
      await h.queue.resume();
    }
  });
});
