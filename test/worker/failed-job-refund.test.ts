import 'reflect-metadata';
import { NO_LIMITS, QueueName, type GenerateJobData, type Reservation } from '@aigw/core';
import { AdmissionStore, GovernanceKeys, QuotaCountersStore } from '@aigw/governance';
import { waitFor } from '@aigw/testing';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { startRouterWorker } from '../../apps/router-worker/src/bootstrap';
import { REDIS_URL, WorkerHarness } from './support';

/**
 * An async job that ends in BullMQ's `failed` state (here: its worker died with it, and its stalls ran out) is given
 * back its admission's reservation by the worker that fails it, once, whether or not anybody ever reads the job: its
 * client may never poll it, and the user's budget kept the worst case of a request that cost nothing.
 */
describe('an async job BullMQ failed, never read', () => {
  const h = new WorkerHarness({
    env: { WORKER_LOCK_MS: '500', WORKER_STALLED_INTERVAL_MS: '200', WORKER_MAX_STALLED_COUNT: '0' },
  });
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  let keys: GovernanceKeys;
  let admission: AdmissionStore;
  let counters: QuotaCountersStore;

  beforeAll(async () => {
    await h.prepare();
    keys = new GovernanceKeys(h.prefix);
    admission = new AdmissionStore(h.producer, keys);
    counters = new QuotaCountersStore(h.producer, keys);
    await counters.markRebuilt(Date.now());
  }, 30_000);

  afterAll(async () => {
    await connection.quit();
    await h.stop();
  }, 30_000);

  async function reserve(userId: string, reserveUsd: number): Promise<Reservation> {
    const verdict = await admission.admit({
      keyId: `${userId}-key`,
      userId,
      limits: { ...NO_LIMITS, dailySpendLimitUsd: 5 },
      tokens: 100,
      reserveUsd,
      now: Date.now(),
    });
    if (verdict.kind !== 'admitted' || verdict.reservation === null) {
      throw new Error(`not admitted: ${verdict.kind}`);
    }
    return verdict.reservation;
  }

  const spend = async (userId: string): Promise<number> => (await counters.read(userId, Date.now())).dailySpendUsd;

  it('gives its reservation back when its worker fails it, and only once', async () => {
    const userId = 'u-failed-unread';
    const reservation = await reserve(userId, 0.25);
    const job = await h.enqueue({ userId, reservation, deadlineAt: Date.now() + 60_000 }, null);
    // A worker takes the job and dies with it: its lock is never renewed.
    const dead = new Worker<GenerateJobData>(QueueName.Generation, undefined, {
      connection,
      prefix: `{${h.prefix}}`,
      lockDuration: 500,
      autorun: false,
    });
    const taken = await dead.getNextJob('dead-worker-token');
    expect(taken?.id).toBe(job.id);
    await dead.close(true);
    expect(await spend(userId)).toBeCloseTo(0.25, 9);

    // The router-worker finds the job stalled past WORKER_MAX_STALLED_COUNT and fails it.
    h.app = await startRouterWorker(h.env);
    await waitFor(async () => (await h.queue.getJobState(job.id!)) === 'failed', {
      timeoutMs: 15_000,
      message: 'the stalled job was not failed',
    });
    await waitFor(async () => (await spend(userId)) === 0, {
      timeoutMs: 5_000,
      message: 'the failed job kept its reservation',
    });

    // Another request's reservation, then the gateway's refund of the same failed job (a GET of it): a no-op.
    await reserve(userId, 0.1);
    await admission.settle(reservation, 0, 0, { jobId: job.data.request.requestId, ttlMs: 60_000 });
    expect(await spend(userId)).toBeCloseTo(0.1, 9);
  }, 40_000);
});
