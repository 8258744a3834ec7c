import { waitFor } from '@aigw/testing';
import { chat, GatewayHarness, sleep, type ErrorEnvelope } from './support';

/** SIGTERM path (app.close()): in-flight waits finish within the grace period, the rest get 503. */
describe('api-gateway graceful shutdown', () => {
  it('lets an in-flight request finish after shutdown began', async () => {
    const h = await new GatewayHarness({ SHUTDOWN_GRACE_MS: '5000' }).start();
    try {
      h.handle(async (job) => {
        await sleep(700);
        return h.answer(job, 'finished during shutdown');
      });
      const pending = h.post('/v1/chat/completions', chat('x'));
      await waitFor(() => h.jobsSeen.length === 1);
      const closing = h.closeApp();
      const res = await pending;
      expect(res.status).toBe(200);
      expect(((await res.json()) as { choices: { message: { content: string } }[] }).choices[0].message.content).toBe(
        'finished during shutdown',
      );
      await closing;
    } finally {
      await h.stop();
    }
  }, 30_000);

  it('answers 503 to what still waits when the grace period ends, and cancels it', async () => {
    const h = await new GatewayHarness({ SHUTDOWN_GRACE_MS: '500' }).start();
    try {
      h.handle(async (job) => {
        await h.cancelled(job.id ?? '');
        return h.answer(job, 'unused', { publish: false });
      });
      const pending = h.post('/v1/chat/completions', chat('x'));
      await waitFor(() => h.jobsSeen.length === 1);
      const closing = h.closeApp();
      const res = await pending;
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('1');
      expect(((await res.json()) as ErrorEnvelope).error.code).toBe('service_unavailable');
      await closing;
      await waitFor(() => h.cancels.length === 1, { message: 'no cancel for the abandoned job' });
    } finally {
      await h.stop();
    }
  }, 30_000);
});
