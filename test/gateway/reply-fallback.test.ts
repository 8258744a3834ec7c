import { waitFor } from '@aigw/testing';
import { Redis } from 'ioredis';
import { GenerationQueue, type GenerateJob } from '../../apps/api-gateway/src/generation/generation-queue';
import { ReplyHub } from '../../apps/api-gateway/src/generation/reply-hub';
import { chat, GatewayHarness, REDIS_URL, sleep } from './support';

/** A gateway and an admin connection to its Redis, for the life of the enclosing describe block. */
function gatewayWithAdmin(env: Record<string, string> = {}): { h: GatewayHarness; admin: () => Redis } {
  const h = new GatewayHarness(env);
  let admin: Redis | undefined;
  beforeAll(async () => {
    await h.start();
    admin = new Redis(REDIS_URL);
  }, 60_000);
  afterAll(async () => {
    await admin?.quit();
    await h.stop();
  }, 30_000);
  return { h, admin: () => admin as Redis };
}

/** Drops this gateway's own reply subscriber connection (found by its name): it reconnects and reads back. */
async function dropSubscriber(h: GatewayHarness, admin: Redis): Promise<void> {
  const line = String(await admin.client('LIST'))
    .split('\n')
    .find((l) => l.includes(` name=${h.prefix}:replies `));
  const id = /\bid=(\d+)/.exec(line ?? '')?.[1];
  expect(id).toBeDefined();
  await admin.client('KILL', 'ID', id ?? '');
}

/**
 * After the reply subscriber reconnects, every pending job is read back at once: messages published
 * during the drop are gone. The deadline (1.8 s) is shorter than the first regular read-back (2 s), so
 * only the read-back on reconnect can answer in time.
 */
describe('reply subscriber reconnect', () => {
  const { h, admin } = gatewayWithAdmin({ REQUEST_TIMEOUT_MS: '1800' });

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
        jobId !== '' &&
        (await admin().exists(h.outcomeKey(jobId))) === 1 &&
        (await h.queue.getJob(jobId)) === undefined,
      { message: 'job did not complete' },
    );
    await dropSubscriber(h, admin());
    const res = await pending;
    expect(res.status).toBe(200);
    expect(((await res.json()) as { choices: { message: { content: string } }[] }).choices[0].message.content).toBe(
      'recovered',
    );
  });
});

/**
 * Redis restarted without its data: the read-back after the reconnect finds the job missing while the worker
 * holding its answer is still reconnecting. The answer that comes a moment later is the request's; only a job
 * missing for several seconds is lost, and then the answer is a retryable 503.
 */
describe('a job missing from Redis after a reconnect', () => {
  const { h, admin } = gatewayWithAdmin();

  /** Runs a request whose job is then wiped from Redis (job and kept outcome), as a restart without data does. */
  async function wiped(): Promise<{ pending: Promise<Response>; job: GenerateJob }> {
    let job: GenerateJob | null = null;
    h.handle((j) => {
      job = j;
      return Promise.resolve({ ok: true as const, result: h.result(j.data.request, 'held') });
    });
    const pending = h.post('/v1/chat/completions', chat('x'));
    await waitFor(async () => job !== null && (await h.queue.getJob(job.id ?? '')) === undefined, {
      message: 'job did not complete',
    });
    const done = job as unknown as GenerateJob;
    await admin().del(h.outcomeKey(done.id ?? ''));
    await dropSubscriber(h, admin());
    return { pending, job: done };
  }

  it('takes the answer the worker hands over after its own reconnect', async () => {
    const { pending, job } = await wiped();
    await sleep(1_000);
    await h.publish(job, { t: 'result', jobId: job.id ?? '', result: h.result(job.data.request, 'held') });
    const res = await pending;
    expect(res.status).toBe(200);
    expect(((await res.json()) as { choices: { message: { content: string } }[] }).choices[0].message.content).toBe(
      'held',
    );
  });

  it('answers a job that stays missing with a retryable 503', async () => {
    const { pending } = await wiped();
    const res = await pending;
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('service_unavailable');
  }, 20_000);
});

/**
 * The read-back of a job still in the queue finds nothing to recover: a worker has not taken it, so no reply can have
 * been lost. In a backlog (a traffic spike, workers behind) every waiting request read its job back every second,
 * two Redis commands each: 2,000 requests queued for 16 s on average made ~48,000 reads. A job found still queued is
 * read again later and later (up to 8 s); one found taken is read on the usual cadence again.
 */
describe('read-backs of a job still in the queue', () => {
  const { h } = gatewayWithAdmin();

  it('back off while the job waits, and stop with its answer', async () => {
    const queue = h.app.get(GenerationQueue);
    // The hub's sweep is private: the test runs it once per virtual second instead of waiting for its timer.
    const hub: { sweep(): void } = h.app.get<ReplyHub, { sweep(): void }>(ReplyHub);
    const reads: Promise<unknown>[] = [];
    const snapshot = queue.snapshot.bind(queue);
    const spy = jest.spyOn(queue, 'snapshot').mockImplementation((jobId) => {
      const read = snapshot(jobId);
      reads.push(read);
      return read;
    });
    await h.queue.pause();
    let offset = 0;
    const now = Date.now.bind(Date);
    const clock = jest.spyOn(Date, 'now').mockImplementation(() => now() + offset);
    try {
      const pending = h.post('/v1/chat/completions', chat('queued for a while'));
      await waitFor(async () => (await h.queue.getJobs(['paused', 'waiting'])).length === 1, {
        message: 'job not queued',
      });
      // 60 s of queueing, a second at a time (well within the 120 s deadline).
      for (let s = 0; s < 60; s++) {
        offset += 1_000;
        hub.sweep();
        await Promise.allSettled(reads);
      }
      // Every second: ~58 reads. Backing off: at 2, 4, 8, 16, 24, ... 56 s.
      expect(reads.length).toBeLessThanOrEqual(10);
      expect(reads.length).toBeGreaterThanOrEqual(3);
      await h.queue.resume();
      expect((await pending).status).toBe(200);
    } finally {
      clock.mockRestore();
      spy.mockRestore();
      await h.queue.resume();
    }
  });
});
