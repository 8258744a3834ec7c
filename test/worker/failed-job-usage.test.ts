import 'reflect-metadata';
import { QueueName, type GenerateJobData } from '@aigw/core';
import { waitFor } from '@aigw/testing';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { startRouterWorker } from '../../apps/router-worker/src/bootstrap';
import { REDIS_URL, WorkerHarness } from './support';

/**
 * An async job that ends in BullMQ's `failed` state (its worker died with it, and its stalls ran out) handed in no
 * outcome, so no run recorded its usage: the worker that fails it records it once, as a failure (internal_error, no
 * cost), as the gateway does for a sync request whose job failed. Without its row, the analytics' requests and failures
 * missed it, and a rebuild of the quota counters dropped it from the day's requests.
 */
describe('usage of an async job BullMQ failed', () => {
  const h = new WorkerHarness({
    env: {
      WORKER_LOCK_MS: '500',
      WORKER_STALLED_INTERVAL_MS: '200',
      WORKER_MAX_STALLED_COUNT: '0',
      USAGE_LINGER_MS: '0',
    },
  });
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });

  beforeAll(async () => {
    await h.prepare();
  }, 30_000);

  afterAll(async () => {
    await connection.quit();
    await h.stop();
  }, 30_000);

  /** A worker takes the job and dies with it: its lock is never renewed. */
  async function dieWith(jobId: string): Promise<void> {
    const dead = new Worker<GenerateJobData>(QueueName.Generation, undefined, {
      connection,
      prefix: `{${h.prefix}}`,
      lockDuration: 500,
      autorun: false,
    });
    const taken = await dead.getNextJob('dead-worker-token');
    expect(taken?.id).toBe(jobId);
    await dead.close(true);
  }

  it('records one failed usage row under its request id', async () => {
    const job = await h.enqueue({ deadlineAt: Date.now() + 60_000 }, null);
    const requestId = job.data.request.requestId;
    await dieWith(job.id!);
    h.app = await startRouterWorker(h.env);
    await waitFor(async () => (await h.queue.getJobState(job.id!)) === 'failed', {
      timeoutMs: 15_000,
      message: 'the stalled job was not failed',
    });
    const rows = await waitFor(
      async () => {
        const found = await h.usageRows([requestId]);
        return found.length > 0 ? found : undefined;
      },
      { timeoutMs: 10_000, message: 'no usage row for the failed async job' },
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      request_id: requestId,
      status: 'error',
      error_code: 'internal_error',
      cached: false,
      attempts: 0,
    });
    expect(Number(rows[0].cost_usd)).toBe(0);
  }, 40_000);
});
