import 'reflect-metadata';
import {
  ErrorCode,
  GatewayError,
  JobName,
  QueueName,
  usageRecordOf,
  type GenerateJobData,
  type GenerateOutcome,
} from '@aigw/core';
import { RedisErrors, RedisKeys } from '@aigw/platform';
import { waitFor } from '@aigw/testing';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { startRouterWorker } from '../../apps/router-worker/src/bootstrap';
import { AnswerStash, type KeptAnswer } from '../../apps/router-worker/src/jobs/answer-stash';
import { REDIS_URL, WorkerHarness } from './support';

const requests = (exposition: string, labels: string): number =>
  Number(new RegExp(`^aigw_requests_total\\{${labels}\\} (\\d+)$`, 'm').exec(exposition)?.[1] ?? 0);

/**
 * An async job whose run lived through a Redis outage keeps its answer in Redis (AnswerStash); a re-run of the job
 * returns that answer. Its request is counted in aigw_requests_total once: by the re-run when the run that kept it
 * gave up before counting, never a second time when it did count.
 */
describe('router-worker: an async job re-run with the answer its previous run kept', () => {
  const h = new WorkerHarness({ env: { RETRY_MAX: '0' } });
  const keys = (): RedisKeys => new RedisKeys(h.prefix);
  const kept = async (jobId: string): Promise<KeptAnswer | null> =>
    JSON.parse((await h.producer.get(keys().key('answer', jobId))) ?? 'null') as KeptAnswer | null;

  beforeAll(() => h.prepare(), 60_000);
  afterAll(() => h.stop(), 30_000);

  it('is counted by the re-run when the run that kept the answer gave up before counting', async () => {
    // The previous run: another worker took the job, obtained an answer and kept it, then stopped before Redis took
    // the rest of its hand-off (its failure returns the job to the queue).
    const request = h.request();
    await h.queue.add(JobName.Generate, { request, replyTo: null }, { jobId: request.requestId, attempts: 3 });
    const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    const previous = new Worker<GenerateJobData, GenerateOutcome>(QueueName.Generation, null, {
      connection,
      prefix: `{${h.prefix}}`,
    });
    const job = await previous.getNextJob('previous-run');
    expect(job?.id).toBe(request.requestId);
    const error = new GatewayError(ErrorCode.AllProvidersFailed, 'All providers failed.');
    const answer: KeptAnswer = {
      outcome: { ok: false, error: error.toBody() },
      usage: usageRecordOf(request, {
        provider: 'sim-openai',
        model: 'sim-gpt',
        promptTokens: 0,
        completionTokens: 0,
        cachedTokens: 0,
        costUsd: 0,
        latencyMs: 20,
        cached: false,
        status: 'error',
        errorClass: 'server',
        errorCode: ErrorCode.AllProvidersFailed,
        attempts: 1,
      }),
    };
    await h.producer.set(keys().key('answer', request.requestId), JSON.stringify(answer), 'PX', 60_000);
    await job!.moveToFailed(new Error('the worker stopped before Redis was back'), 'previous-run');
    await previous.close();
    await connection.quit();

    h.app = await startRouterWorker(h.env);
    expect(await h.outcome(request.requestId)).toEqual(answer.outcome);
    expect((await h.queue.getJob(request.requestId))?.attemptsStarted).toBe(2);
    // The kept answer, not a provider call.
    expect(h.sim.stats().total).toBe(0);
    const failed = 'provider="none",model="none",status="all_providers_failed",cache="bypass"';
    expect(requests(await h.metrics(), failed)).toBe(1);
    expect(await kept(request.requestId)).toEqual({ ...answer, counted: true });
  });

  it('is not counted again by a re-run when the run that kept the answer counted it', async () => {
    const ok = 'provider="sim-openai",model="sim-gpt",status="success",cache="bypass"';
    const before = requests(await h.metrics(), ok);
    h.sim.configure({ latencyMs: 300 });
    const job = await h.enqueue({}, null);
    await waitFor(() => h.sim.stats().inFlight === 1, { timeoutMs: 5000 });
    // Redis fails during the call: the run keeps its answer, as its completion may be lost with its lock.
    h.app.get(RedisErrors).report('reply_publish', new Error('connection reset'));
    const outcome = await h.outcome(job.id!);
    expect(outcome).toMatchObject({ ok: true });
    expect(await kept(job.id!)).toMatchObject({ outcome, counted: true });
    expect(requests(await h.metrics(), ok)).toBe(before + 1);

    // Its completion lost, BullMQ hands the job out again: the re-run returns the kept answer, uncounted.
    const calls = h.sim.stats().total;
    await job.retry('completed');
    await waitFor(
      async () => {
        const again = await h.queue.getJob(job.id!);
        return again?.attemptsStarted === 2 && (await again.getState()) === 'completed';
      },
      { timeoutMs: 10_000, message: 'job not re-run' },
    );
    expect((await h.queue.getJob(job.id!))?.returnvalue).toEqual(outcome);
    expect(h.sim.stats().total).toBe(calls);
    expect(requests(await h.metrics(), ok)).toBe(before + 1);
  });

  it('is kept already marked counted: a re-run reading it the moment it lands does not count it again', async () => {
    // The run's worker may stop (or its lock lapse) right after Redis took the answer: a re-run then finds the answer
    // as it stands. Were the mark a second write, a re-run in between would count the request as the run does.
    // Started by the first case; run alone, this one starts it.
    h.app ??= await startRouterWorker(h.env);
    const stash = h.app.get(AnswerStash);
    const keep = stash.keep.bind(stash);
    const found: (KeptAnswer | null)[] = [];
    const spy = jest.spyOn(stash, 'keep').mockImplementation(async (jobId, answer) => {
      await keep(jobId, answer);
      found.push(await kept(jobId));
    });
    try {
      const ok = 'provider="sim-openai",model="sim-gpt",status="success",cache="bypass"';
      const before = requests(await h.metrics(), ok);
      h.sim.configure({ latencyMs: 300 });
      const job = await h.enqueue({}, null);
      await waitFor(() => h.sim.stats().inFlight === 1, { timeoutMs: 5000 });
      h.app.get(RedisErrors).report('reply_publish', new Error('connection reset'));
      const outcome = await h.outcome(job.id!);
      expect(outcome).toMatchObject({ ok: true });
      expect(found.length).toBeGreaterThan(0);
      for (const answer of found) {
        expect(answer).toMatchObject({ outcome, counted: true });
      }
      expect(requests(await h.metrics(), ok)).toBe(before + 1);
    } finally {
      spy.mockRestore();
    }
  });
});
