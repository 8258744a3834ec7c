import { waitFor } from '@aigw/testing';
import { Redis } from 'ioredis';
import { chat, GatewayHarness, REDIS_URL } from './support';

/**
 * After the reply subscriber reconnects, every pending job is read back at once: messages published
 * during the drop are gone. The deadline (1.8 s) is shorter than the first regular read-back (2 s), so
 * only the read-back on reconnect can answer in time.
 */
describe('reply subscriber reconnect', () => {
  const h = new GatewayHarness({ REQUEST_TIMEOUT_MS: '1800' });
  let admin: Redis;

  beforeAll(async () => {
    await h.start();
    admin = new Redis(REDIS_URL);
  }, 60_000);

  afterAll(async () => {
    await admin.quit();
    await h.stop();
  }, 30_000);

  it('answers a request whose reply was lost from the stored result right after the reconnect', async () => {
    let jobId = '';
    h.handle((job) => {
      jobId = job.id ?? '';
      return h.answer(job, 'recovered', { publish: false });
    });
    const pending = h.post('/v1/chat/completions', chat('x'));
    // Completed: BullMQ removed the job, the worker kept its outcome.
    await waitFor(
      async () =>
        jobId !== '' && (await admin.exists(h.outcomeKey(jobId))) === 1 && (await h.queue.getJob(jobId)) === undefined,
      { message: 'job did not complete' },
    );
    // Only this gateway's own subscriber connection, found by its name.
    const clients = await admin.client('LIST');
    const line = String(clients)
      .split('\n')
      .find((l) => l.includes(` name=${h.prefix}:replies `));
    const id = /\bid=(\d+)/.exec(line ?? '')?.[1];
    expect(id).toBeDefined();
    await admin.client('KILL', 'ID', id ?? '');
    const res = await pending;
    expect(res.status).toBe(200);
    expect(((await res.json()) as { choices: { message: { content: string } }[] }).choices[0].message.content).toBe(
      'recovered',
    );
  });
});
