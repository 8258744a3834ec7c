import { waitFor } from '@aigw/testing';
import { Redis } from 'ioredis';
import { chat, GatewayHarness, REDIS_URL, sleep, type ErrorEnvelope } from './support';

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

  it('counts the cache use of answers finished while the server drains, before Redis closes', async () => {
    const h = await new GatewayHarness({ SHUTDOWN_GRACE_MS: '5000' }).start();
    const reader = new Redis(REDIS_URL);
    try {
      // sim-gpt has no cache: each answer counts one bypass, collected in process and flushed to the shared totals.
      expect((await h.post('/v1/chat/completions', chat('before'))).status).toBe(200);
      h.handle(async (job) => {
        await sleep(700);
        return h.answer(job, 'finished during shutdown');
      });
      const pending = h.post('/v1/chat/completions', chat('x'));
      await waitFor(() => h.jobsSeen.length === 2);
      const closing = h.closeApp();
      expect((await pending).status).toBe(200);
      await closing;
      // The second count came after beforeApplicationShutdown, while the server drained: it is in the totals only if
      // the last flush ran after the drain and before RedisModule closed the connection (RedisFinalWrites).
      expect(await reader.hgetall(`${h.prefix}:cache-stats`)).toEqual({ bypass: '2' });
      // Its kept outcome, released once answered, is deleted by the same final writes (not left to its TTL).
      expect(await reader.exists(h.outcomeKey(h.jobsSeen[1]))).toBe(0);
    } finally {
      reader.disconnect();
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
