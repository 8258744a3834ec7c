import { readFileSync } from 'node:fs';
import { JobName, QueueName, type GenerateOutcome } from '@aigw/core';
import { RedisErrors, RedisKeys } from '@aigw/platform';
import { PrivateRedis, uniqueId, waitFor } from '@aigw/testing';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { QueueConsumer } from '../../apps/router-worker/src/queue/consumer';
import { QueueProcessor } from '../../apps/router-worker/src/queue/queue-processor';

const quiet = { warn: (): void => undefined, log: (): void => undefined };

/**
 * A worker's completions of the jobs that finish in one event-loop turn leave in one socket write (TurnCork on the
 * consumer's connection), counted as this process's write system calls. A Redis of the test's own.
 */
describe('QueueConsumer: completions of one turn in one write', () => {
  const server = new PrivateRedis();
  const keys = new RedisKeys(uniqueId('consume'));
  const N = 30;
  let admin: Redis;
  let queue: Queue;
  let consumer: QueueConsumer;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const outcome: GenerateOutcome = {
    ok: false,
    error: { message: 'm', type: 'provider_error', code: 'provider_error' as never, param: null },
  };

  /** Write system calls of this process (the consumer runs in it). */
  function writes(): number {
    return Number(/^syscw: (\d+)/m.exec(readFileSync('/proc/self/io', 'utf8'))?.[1]);
  }

  beforeAll(async () => {
    await server.start();
    admin = new Redis(server.url);
    queue = new Queue(QueueName.Generation, { connection: admin, prefix: keys.bullPrefix });
    const processor = new QueueProcessor(
      QueueName.Generation,
      { [JobName.Generate]: () => gate.then(() => outcome) },
      () => undefined,
    );
    consumer = new QueueConsumer(server.url, keys, new RedisErrors(quiet), processor, {
      concurrency: N,
      logFailedJobs: false,
    });
  }, 30_000);

  afterAll(async () => {
    await consumer.close();
    await queue.close();
    admin.disconnect();
    await server.stop();
  });

  it('completes every job, the completions of one turn in a few writes instead of one each', async () => {
    for (let i = 0; i < N; i++) {
      await queue.add(JobName.Generate, { request: {}, replyTo: null }, { jobId: `j${i}` });
    }
    consumer.start();
    await waitFor(async () => (await queue.getActiveCount()) === N, { message: 'jobs not all taken' });
    const before = writes();
    release();
    await waitFor(async () => (await queue.getCompletedCount()) === N, { message: 'jobs not all completed' });
    // One moveToFinished per job, all released in one turn; the waitFor above adds a write per poll. Measured: 6
    // writes (35 with a write per completion).
    expect(writes() - before).toBeLessThan(N / 2);
    expect((await queue.getJob('j0'))?.returnvalue).toEqual(outcome);
  });
});
