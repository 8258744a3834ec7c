import { type JobName, QueueName, type GenerateJobData, type GenerateOutcome } from '@aigw/core';
import { waitFor } from '@aigw/testing';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { GatewayHarness, REDIS_URL } from './support';

/**
 * An async job that ran once and was put back in the queue (its worker died and BullMQ's stalled check moved it back
 * to wait; or a failed attempt left it to be retried) is queued again, not running: BullMQ keeps the `processedOn` of
 * its first run, which the status read took for a running job. Its worker here is a BullMQ worker of the test's that
 * takes the job by hand (`getNextJob`) and never renews its lock: it dies holding it.
 */
describe('the status of a job put back in the queue', () => {
  const h = new GatewayHarness();
  let connection: Redis;
  type HandWorker = Worker<GenerateJobData, GenerateOutcome, JobName.Generate>;
  const workers: HandWorker[] = [];

  beforeAll(async () => {
    await h.start();
    connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  }, 60_000);
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.close(true)));
    await connection.quit();
    await h.stop();
  }, 30_000);

  // A test that failed half-way leaves its job for the stand-in worker, not for the next test's hand.
  afterEach(async () => {
    h.resumeWorker();
    await waitFor(async () => (await h.queue.getWaitingCount()) + (await h.queue.getDelayedCount()) === 0, {
      timeoutMs: 10_000,
    });
  });

  /** A worker of the test's: takes no job by itself (`getNextJob` takes one), checks for stalls when told to. */
  function handWorker(opts: { lockDuration?: number; stalledInterval?: number } = {}): HandWorker {
    const w: HandWorker = new Worker(QueueName.Generation, null, {
      connection,
      prefix: `{${h.prefix}}`,
      autorun: false,
      ...opts,
    });
    workers.push(w);
    return w;
  }

  async function submitted(prompt: string, idempotencyKey?: string): Promise<{ jobId: string; status: string }> {
    const headers =
      idempotencyKey === undefined ? h.headers() : h.headers(h.adminKey, { 'idempotency-key': idempotencyKey });
    const res = await h.post('/api/v1/ai/jobs', { prompt, model: 'sim-gpt' }, headers);
    expect(res.status).toBe(202);
    return (await res.json()) as { jobId: string; status: string };
  }

  async function submit(prompt: string, idempotencyKey?: string): Promise<string> {
    return (await submitted(prompt, idempotencyKey)).jobId;
  }

  async function statusOf(jobId: string): Promise<string> {
    const res = await h.get(`/api/v1/ai/jobs/${jobId}`);
    expect(res.status).toBe(200);
    return ((await res.json()) as { status: string }).status;
  }

  /** Takes the job by hand: it is active and locked, as a worker running it holds it. */
  async function take(worker: HandWorker, jobId: string, token: string) {
    const job = await worker.getNextJob(token, { block: false });
    expect(job?.id).toBe(jobId);
    return job as NonNullable<typeof job>;
  }

  it('reads queued once the stalled check moved it back to wait after its worker died', async () => {
    await h.pauseWorker();
    const jobId = await submit('stalled and queued again', 'stalled-replayed');
    expect(await statusOf(jobId)).toBe('queued');

    // Its worker takes it and dies holding it: the lock (1 s) is never renewed.
    await take(handWorker({ lockDuration: 1_000 }), jobId, 'dead-worker');
    expect(await statusOf(jobId)).toBe('running');

    // Another worker's stalled check finds it unlocked and moves it back to wait (no worker takes it: all paused).
    const checker = handWorker({ stalledInterval: 200 });
    // The stand-in worker checked at start, and no other check runs before its interval (30 s) ends: this one may.
    await connection.del(h.queue.toKey('stalled-check'));
    await checker.startStalledCheckTimer();
    await waitFor(async () => (await h.queue.getJobState(jobId)) === 'waiting', {
      timeoutMs: 10_000,
      message: 'the stalled check never moved the job back to wait',
    });
    await checker.close();
    expect((await h.queue.getJob(jobId))?.processedOn).toBeGreaterThan(0);
    expect(await statusOf(jobId)).toBe('queued');
    // A replay under its Idempotency-Key answers the job's state as the status read does.
    expect(await submitted('stalled and queued again', 'stalled-replayed')).toEqual({ jobId, status: 'queued' });

    // Taken again, it runs; then it completes.
    h.resumeWorker();
    await waitFor(async () => (await statusOf(jobId)) === 'completed', { timeoutMs: 10_000 });
  });

  it('reads queued while a failed attempt waits for its retry', async () => {
    await h.pauseWorker();
    const jobId = await submit('failed once, retried');
    const worker = handWorker();
    const job = await take(worker, jobId, 'failing-worker');
    expect(await statusOf(jobId)).toBe('running');
    // The processor threw (a worker stopping before Redis came back): BullMQ retries it after its backoff.
    await job.moveToFailed(new Error('worker stopped'), 'failing-worker');
    expect(await h.queue.getJobState(jobId)).toBe('delayed');
    expect(await statusOf(jobId)).toBe('queued');
    h.resumeWorker();
    await waitFor(async () => (await statusOf(jobId)) === 'completed', { timeoutMs: 10_000 });
  });
});
