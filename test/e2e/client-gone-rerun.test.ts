import { type JobName, QueueName, type GenerateJobData, type GenerateOutcome } from '@aigw/core';
import { RedisKeys } from '@aigw/platform';
import { sleep, waitFor } from '@aigw/testing';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { REDIS_URL, TestSystem } from './harness';

/**
 * A sync request whose client left (the gateway cancelled its job) while its worker could not hear the cancel (paused,
 * then killed): the worker that takes the stalled job over never heard the cancel either, and must not pay the
 * provider for an answer nobody reads. Router-workers of their own (split topology): the all-in-one worker would die
 * with its gateway.
 */
describe('a sync job whose client left, taken over from a dead worker (e2e)', () => {
  const system = new TestSystem({ topology: 'split', workers: 1, env: { RETRY_MAX: '0' } });
  const redis = new Redis(REDIS_URL, { lazyConnect: true });
  const queue = new Queue<GenerateJobData, GenerateOutcome, JobName.Generate>(QueueName.Generation, {
    connection: redis,
    prefix: new RedisKeys(system.prefix).bullPrefix,
  });

  beforeAll(() => system.start(), 90_000);

  afterAll(async () => {
    await queue.close();
    await redis.quit();
    await system.stop();
  }, 30_000);

  const callsWith = (text: string): number =>
    system.sim
      .lastRequests()
      .map((r) => JSON.stringify(r.body) ?? '')
      .filter((b) => b.includes(text)).length;

  /**
   * Sends `prompt`, leaves once its worker called the provider and is paused (it cannot hear the cancel), waits for
   * the gateway to mark the job as being stopped, then kills the worker. Resolves to the job's id.
   */
  async function leaveThenKillWorker(prompt: string): Promise<string> {
    const [worker] = system.workers();
    system.sim.configure({ latencyMs: 20_000 });
    const client = new AbortController();
    const pending = fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({ model: 'sim-gpt', messages: [{ role: 'user', content: prompt }] }),
      signal: client.signal,
    }).catch(() => undefined);
    await waitFor(() => callsWith(prompt) === 1, { timeoutMs: 10_000, message: 'the job never reached the provider' });
    const [job] = await queue.getJobs(['active']);
    const jobId = job.id ?? '';
    worker.child.kill('SIGSTOP');
    client.abort();
    await pending;
    // The gateway saw the client leave and cancelled the job (its mark is what a worker can find later).
    await waitFor(async () => (await redis.exists(new RedisKeys(system.prefix).cancelled(jobId))) === 1, {
      timeoutMs: 10_000,
      message: 'the gateway never marked the job as cancelled',
    });
    worker.child.kill('SIGKILL');
    await worker.exited;
    system.sim.configure({ latencyMs: 0 });
    return jobId;
  }

  /** Waits for the job to end (a sync job leaves BullMQ as it completes) and reads the outcome its worker kept. */
  async function endedOutcome(jobId: string): Promise<GenerateOutcome> {
    await waitFor(async () => (await queue.getJob(jobId)) === undefined, {
      timeoutMs: 30_000,
      message: 'the stalled job was never run again',
    });
    const kept = await redis.get(new RedisKeys(system.prefix).outcome(jobId));
    expect(kept).not.toBeNull();
    return JSON.parse(kept ?? 'null') as GenerateOutcome;
  }

  it('the worker that takes it over aborts it at start: no second provider call', async () => {
    const prompt = 'left, then its worker died';
    const jobId = await leaveThenKillWorker(prompt);
    // Started after the cancel went out: it never heard it.
    await system.addReplica('router-worker');
    const outcome = await endedOutcome(jobId);
    expect(outcome).toMatchObject({ ok: false, abortCause: 'client_disconnected' });
    // Only the first run's call, cut by its worker's death.
    expect(callsWith(prompt)).toBe(1);
  }, 60_000);

  it('also when the take-over comes later than the 30 s a cancel used to be remembered', async () => {
    await waitFor(() => system.sim.stats().inFlight === 0, { timeoutMs: 25_000, message: 'a call still runs' });
    const prompt = 'left, its worker died, taken over late';
    const jobId = await leaveThenKillWorker(prompt);
    // No worker meanwhile: the job stays with the dead one until a worker that checks for stalls starts.
    await sleep(31_000);
    await system.addReplica('router-worker');
    const outcome = await endedOutcome(jobId);
    expect(outcome).toMatchObject({ ok: false, abortCause: 'client_disconnected' });
    expect(callsWith(prompt)).toBe(1);
  }, 90_000);
});
