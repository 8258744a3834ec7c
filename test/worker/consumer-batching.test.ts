import { JobName } from '@aigw/core';
import { waitFor } from '@aigw/testing';
import { anyOutcome as outcome, gatedConsumer, redisReads } from './consumer-rig';

/**
 * A worker's completions of the jobs that finish in one event-loop turn leave in one socket write (TurnCork on the
 * consumer's connection), counted as this process's write system calls. A Redis of the test's own.
 */
describe('QueueConsumer: completions of one turn in one write', () => {
  const N = 30;
  const { rig, consumer, release } = gatedConsumer('consume', N);

  it('completes every job, the completions of one turn in a few writes instead of one each', async () => {
    for (let i = 0; i < N; i++) {
      await rig.queue.add(JobName.Generate, { request: {}, replyTo: null }, { jobId: `j${i}` });
    }
    consumer().start();
    await waitFor(async () => (await rig.queue.getActiveCount()) === N, { message: 'jobs not all taken' });
    const before = await redisReads(rig);
    release();
    await waitFor(async () => (await rig.queue.getCompletedCount()) === N, { message: 'jobs not all completed' });
    // One moveToFinished per job, all released in one turn; the waitFor above adds a write per poll. Measured: 8
    // writes (35 with a write per completion).
    expect((await redisReads(rig)) - before).toBeLessThan(N / 2);
    expect((await rig.queue.getJob('j0'))?.returnvalue).toEqual(outcome);
  });
});
