import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { JobName, NO_LIMITS, QueueName, usageRecordOf, type GenerateJobData, type GenerateOutcome } from '@aigw/core';
import { AdmissionStore, GovernanceKeys, QuotaCountersStore } from '@aigw/governance';
import { waitFor } from '@aigw/testing';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { startRouterWorker } from '../../apps/router-worker/src/bootstrap';
import { REDIS_URL, WorkerHarness } from './support';

/**
 * A sync job whose run answered, kept its outcome and wrote its usage, but whose completion was lost (its lock lapsed
 * in a stall, its worker died before BullMQ heard of it), is handed out again. The re-run called the provider a
 * second time, paid for it, and recorded nothing of it (the usage row of the request id was already there). The
 * outcome the first run kept holds its usage event now, and a re-run that finds it answers from it.
 */
describe('router-worker: a sync job re-run after its outcome was kept', () => {
  const h = new WorkerHarness({ env: { RETRY_MAX: '0' } });

  beforeAll(async () => {
    await h.prepare();
    h.app = await startRouterWorker(h.env);
  }, 60_000);
  afterAll(() => h.stop(), 30_000);

  async function completed(jobId: string, run: number): Promise<void> {
    await waitFor(
      async () => {
        const job = await h.queue.getJob(jobId);
        return job?.attemptsStarted === run && (await job.getState()) === 'completed';
      },
      { timeoutMs: 10_000, message: `job ${jobId} did not complete run ${run}` },
    );
  }

  const finalReplies = (jobId: string): number =>
    h.repliesOf(jobId).filter((m) => m.t === 'result' || m.t === 'end' || m.t === 'error').length;

  async function rerunOfCompleted(stream: boolean): Promise<void> {
    const request = h.request({ stream });
    // As the gateway enqueues a sync job kept for an Idempotency-Key replay; left in the queue once completed, so that
    // it can be handed out again as a lost completion would be.
    const job = await h.queue.add(
      JobName.Generate,
      { request, replyTo: h.replyTo, keepOutcomeMs: 60_000 },
      { jobId: request.requestId, removeOnComplete: false },
    );
    await completed(job.id!, 1);
    const first = h.repliesOf(job.id!).at(-1) as { t: string; result: unknown };
    expect(first.t).toBe(stream ? 'end' : 'result');
    await waitFor(async () => (await h.usageRows([request.requestId])).length === 1 || null, {
      timeoutMs: 10_000,
      message: 'no usage row',
    });
    const calls = h.sim.stats().total;
    const finals = finalReplies(job.id!);

    await job.retry('completed');
    await completed(job.id!, 2);
    // Answered from the kept outcome: no second provider call, the same answer on the reply channel again.
    expect(h.sim.stats().total).toBe(calls);
    await waitFor(() => finalReplies(job.id!) === finals + 1 || null, { timeoutMs: 5_000 });
    const last = h.repliesOf(job.id!).at(-1);
    expect(last).toMatchObject({ t: stream ? 'end' : 'result', jobId: job.id });
    expect((last as { result: unknown }).result).toEqual(first.result);
    expect(await h.usageRows([request.requestId])).toHaveLength(1);
  }

  it('answers from it instead of calling the provider again', async () => {
    await rerunOfCompleted(false);
  }, 30_000);

  it('answers a stream from it too', async () => {
    await rerunOfCompleted(true);
  }, 30_000);

  it('calls the provider when the kept outcome is gone (read and released by its gateway)', async () => {
    const request = h.request();
    const job = await h.queue.add(
      JobName.Generate,
      { request, replyTo: h.replyTo, keepOutcomeMs: 0 },
      { jobId: request.requestId, removeOnComplete: false },
    );
    await completed(job.id!, 1);
    await h.producer.del(h.outcomeKey(job.id!));
    const calls = h.sim.stats().total;
    await job.retry('completed');
    await completed(job.id!, 2);
    expect(h.sim.stats().total).toBe(calls + 1);
  }, 30_000);
});

describe('router-worker: a sync job re-run after its previous run kept its outcome and stopped', () => {
  const h = new WorkerHarness({ env: { RETRY_MAX: '0' } });
  let admission: AdmissionStore;
  let counters: QuotaCountersStore;

  beforeAll(async () => {
    await h.prepare();
    const keys = new GovernanceKeys(h.prefix);
    admission = new AdmissionStore(h.producer, keys);
    counters = new QuotaCountersStore(h.producer, keys);
    await counters.markRebuilt(Date.now());
  }, 60_000);
  afterAll(() => h.stop(), 30_000);

  it('records and settles the usage kept with it, once, without calling the provider', async () => {
    const userId = randomUUID();
    const verdict = await admission.admit({
      keyId: `${userId}-key`,
      userId,
      limits: { ...NO_LIMITS, dailySpendLimitUsd: 50 },
      tokens: 5000,
      reserveUsd: 1,
      now: Date.now(),
    });
    if (verdict.kind !== 'admitted' || verdict.reservation === null) {
      throw new Error(`not admitted: ${verdict.kind}`);
    }
    const request = h.request({ userId, reservation: verdict.reservation });
    const data = { request, replyTo: h.replyTo, keepOutcomeMs: 60_000 };
    await h.queue.add(JobName.Generate, data, { jobId: request.requestId, attempts: 3, removeOnComplete: false });
    // The previous run: another worker took the job, obtained an answer and kept its outcome (with its usage), then
    // stopped before its usage event and its settlement reached Redis.
    const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    const previous = new Worker<GenerateJobData, GenerateOutcome>(QueueName.Generation, null, {
      connection,
      prefix: `{${h.prefix}}`,
    });
    const job = await previous.getNextJob('previous-run');
    expect(job?.id).toBe(request.requestId);
    const usage = usageRecordOf(request, {
      provider: 'sim-openai',
      model: 'sim-gpt',
      promptTokens: 100,
      completionTokens: 20,
      cachedTokens: 0,
      costUsd: 0.0125,
      latencyMs: 20,
      cached: false,
      status: 'success',
      errorClass: null,
      errorCode: null,
      attempts: 1,
    });
    const result = {
      id: 'chatcmpl-kept',
      content: 'kept answer',
      finishReason: 'stop',
      provider: 'sim-openai',
      model: 'sim-gpt',
      usage: { promptTokens: 100, completionTokens: 20, totalTokens: 120, cachedPromptTokens: 0 },
      costUsd: 0.0125,
      latencyMs: 20,
      attempts: [],
    };
    await h.producer.set(
      h.outcomeKey(request.requestId),
      JSON.stringify({ ok: true, result, userId, apiKeyId: request.apiKeyId, receivedAt: request.receivedAt, usage }),
      'PX',
      60_000,
    );
    await job!.moveToFailed(new Error('the worker stopped'), 'previous-run');
    await previous.close();
    await connection.quit();

    h.app = await startRouterWorker(h.env);
    const replies = await h.finalReplies(request.requestId);
    expect(replies.at(-1)).toMatchObject({ t: 'result', result: { id: 'chatcmpl-kept', content: 'kept answer' } });
    expect(h.sim.stats().total).toBe(0);
    const rows = await waitFor(async () => {
      const r = await h.usageRows([request.requestId]);
      return r.length > 0 ? r : null;
    });
    expect(rows).toHaveLength(1);
    expect(Number(rows[0].cost_usd)).toBeCloseTo(0.0125, 9);
    // The reservation ($1) settled to the kept usage's cost.
    await waitFor(async () => Math.abs((await counters.read(userId, Date.now())).dailySpendUsd - 0.0125) < 1e-9, {
      timeoutMs: 5_000,
      message: 'the reservation was not settled to the kept usage',
    });

    // Handed out once more: nothing settled a second time.
    await (await h.queue.getJob(request.requestId))!.retry('completed');
    await waitFor(async () => (await h.queue.getJob(request.requestId))?.attemptsStarted === 3 || null);
    await waitFor(async () => (await (await h.queue.getJob(request.requestId))!.getState()) === 'completed' || null);
    await new Promise((r) => setTimeout(r, 300));
    expect((await counters.read(userId, Date.now())).dailySpendUsd).toBeCloseTo(0.0125, 9);
    expect(h.sim.stats().total).toBe(0);
    expect(await h.usageRows([request.requestId])).toHaveLength(1);
  }, 30_000);
});
