import { JobName, QueueName, type GenerateOutcome } from '@aigw/core';
import { RedisErrors, RedisKeys } from '@aigw/platform';
import { PrivateRedis, uniqueId, waitFor } from '@aigw/testing';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { QueueConsumer } from '../../apps/router-worker/src/queue/consumer';
import { QueueProcessor } from '../../apps/router-worker/src/queue/queue-processor';
import { bullMoveToActive, LEAN_TAIL, STOCK_TAIL, withLeanTail } from '../../apps/router-worker/src/queue/lean-fetch';

const quiet = { warn: (): void => undefined, log: (): void => undefined };
const outcome: GenerateOutcome = {
  ok: false,
  error: { message: 'm', type: 'provider_error', code: 'provider_error' as never, param: null },
};

/** Calls of one command since the last CONFIG RESETSTAT. */
async function calls(redis: Redis, command: string): Promise<number> {
  const info = await redis.info('commandstats');
  return Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(info)?.[1] ?? 0);
}

/**
 * The worker's wake-up marker is re-added only when a job is left to take (wake-marker.ts). Each case runs on a Redis
 * of its own, so its command counts are the consumers' alone.
 */
describe('Lean fetch: one BZPOPMIN and one moveToActive per job when none is left', () => {
  it("applies to the installed BullMQ's moveToActive, once, and is idempotent", () => {
    const stock = bullMoveToActive().content.replace(LEAN_TAIL, STOCK_TAIL);
    const patched = withLeanTail(stock);
    expect(stock.split(STOCK_TAIL)).toHaveLength(2);
    expect(patched).toContain(LEAN_TAIL);
    expect(patched).not.toContain(STOCK_TAIL);
    expect(withLeanTail(patched as string)).toBe(patched);
    expect(withLeanTail('return {0, 0, 0, 0}')).toBeNull();
  });

  describe('one consumer, jobs one at a time', () => {
    const server = new PrivateRedis();
    const keys = new RedisKeys(uniqueId('wake'));
    let admin: Redis;
    let queue: Queue;
    let consumer: QueueConsumer;

    beforeAll(async () => {
      await server.start();
      admin = new Redis(server.url);
      queue = new Queue(QueueName.Generation, { connection: admin, prefix: keys.bullPrefix });
      const processor = new QueueProcessor(
        QueueName.Generation,
        { [JobName.Generate]: () => Promise.resolve(outcome) },
        () => undefined,
      );
      consumer = new QueueConsumer(server.url, keys, new RedisErrors(quiet), processor, {
        concurrency: 10,
        logFailedJobs: false,
      });
      consumer.start();
    }, 30_000);

    afterAll(async () => {
      await consumer.close();
      await queue.close();
      admin.disconnect();
      await server.stop();
    });

    it('takes each job with one block and one script instead of waking itself and asking twice more', async () => {
      const N = 20;
      const completed = `${keys.bullPrefix}:${QueueName.Generation}:completed`;
      await waitFor(async () => (await calls(admin, 'bzpopmin')) > 0, { message: 'consumer never blocked' });
      await admin.config('RESETSTAT');
      for (let i = 0; i < N; i++) {
        await queue.add(JobName.Generate, {}, { jobId: `j${i}` });
        // Polled with a plain command: the scripts Redis runs are counted below.
        await waitFor(async () => (await admin.zscore(completed, `j${i}`)) !== null, {
          message: `job ${i} not completed`,
        });
        // The consumer is blocked again before the next job (its BZPOPMIN for this one has been called).
        await waitFor(async () => (await calls(admin, 'bzpopmin')) >= i + 1, { message: 'consumer not blocked' });
      }
      // Stock BullMQ: 2 BZPOPMIN per job (the second returns at once, woken by the marker the job's own
      // moveToActive re-added) and 4 scripts (3 moveToActive, 2 of them finding nothing, and moveToFinished).
      // Here: one BZPOPMIN and two scripts per job.
      expect(await calls(admin, 'bzpopmin')).toBeLessThanOrEqual(N + 1);
      // N addJob scripts are this test's own.
      expect((await calls(admin, 'evalsha')) + (await calls(admin, 'eval'))).toBeLessThanOrEqual(3 * N + 2);
      expect(await admin.zcard(`${keys.bullPrefix}:${QueueName.Generation}:marker`)).toBe(0);
    });
  });

  describe('two consumers, two jobs behind one marker', () => {
    const server = new PrivateRedis();
    const keys = new RedisKeys(uniqueId('wake2'));
    let admin: Redis;
    let queue: Queue;
    const consumers: QueueConsumer[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));

    beforeAll(async () => {
      await server.start();
      admin = new Redis(server.url);
      queue = new Queue(QueueName.Generation, { connection: admin, prefix: keys.bullPrefix });
      for (let i = 0; i < 2; i++) {
        const processor = new QueueProcessor(
          QueueName.Generation,
          { [JobName.Generate]: () => gate.then(() => outcome) },
          () => undefined,
        );
        // A worker not woken by a marker would only look again after drainDelay (60 s here).
        const consumer = new QueueConsumer(server.url, keys, new RedisErrors(quiet), processor, {
          concurrency: 1,
          drainDelay: 60,
          logFailedJobs: false,
        });
        consumer.start();
        consumers.push(consumer);
      }
    }, 30_000);

    afterAll(async () => {
      release();
      await Promise.all(consumers.map((c) => c.close()));
      await queue.close();
      admin.disconnect();
      await server.stop();
    });

    it('the job left wakes the second worker', async () => {
      await waitFor(async () => (await calls(admin, 'bzpopmin')) >= 2, { message: 'consumers never blocked' });
      // Two jobs behind one marker: added while the queue is paused, then resumed (one script, one marker). The
      // worker that pops it takes one job; only the marker re-added for the job left wakes the other.
      await queue.pause();
      await queue.add(JobName.Generate, {}, { jobId: 'a' });
      await queue.add(JobName.Generate, {}, { jobId: 'b' });
      await queue.resume();
      await waitFor(async () => (await queue.getActiveCount()) === 2, {
        timeoutMs: 20_000,
        message: 'the second worker was not woken for the job left',
      });
      release();
      await waitFor(async () => (await queue.getCompletedCount()) === 2, { message: 'jobs not completed' });
    });
  });
});
