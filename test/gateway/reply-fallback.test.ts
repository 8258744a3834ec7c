import { waitFor } from '@aigw/testing';
import { Redis } from 'ioredis';
import type { GenerateJob } from '../../apps/api-gateway/src/generation/generation-queue';
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
