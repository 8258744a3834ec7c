import 'reflect-metadata';
import { JobName, type GenerateJobData } from '@aigw/core';
import { waitFor } from '@aigw/testing';
import { startRouterWorker } from '../../apps/router-worker/src/bootstrap';
import { WorkerHarness } from './support';

/**
 * `GET /api/v1/ai/jobs/:id` reads a sync job from the outcome its worker kept once BullMQ removed it, and names its
 * error's param as the native body has it (`prompt`, `systemPrompt`) from the body's input fields, which only the job
 * held. Found by review: the kept outcome had no such fields, and the read-back passed `messages[1].content` through
 * although generate had answered `prompt`. The worker copies them into a failed job's outcome; an answer's gets none.
 */
describe('router-worker: a failed native sync job keeps its body input fields with its outcome', () => {
  const h = new WorkerHarness({ env: { RETRY_MAX: '0' } });

  beforeAll(async () => {
    await h.prepare();
    h.app = await startRouterWorker(h.env);
  }, 60_000);
  afterAll(() => h.stop(), 30_000);

  async function kept(model: string): Promise<Record<string, unknown>> {
    const request = h.request({ model });
    const data: GenerateJobData = {
      request,
      replyTo: h.replyTo,
      keepOutcomeMs: 60_000,
      nativeInput: 'prompt',
      nativeSystemPrompt: true,
    };
    await h.queue.add(JobName.Generate, data, { jobId: request.requestId, removeOnComplete: true });
    await h.finalReplies(request.requestId);
    const raw = await waitFor(() => h.producer.get(h.outcomeKey(request.requestId)), { timeoutMs: 10_000 });
    return JSON.parse(raw) as Record<string, unknown>;
  }

  it('a failed job: its outcome names the input fields beside its error', async () => {
    const outcome = await kept('no-such-model');
    expect(outcome).toMatchObject({ ok: false, nativeInput: 'prompt', nativeSystemPrompt: true });
  }, 30_000);

  it('an answer: its outcome has none of them (not a byte more on the success path)', async () => {
    const outcome = await kept('sim-gpt');
    expect(outcome.ok).toBe(true);
    expect(outcome).not.toHaveProperty('nativeInput');
    expect(outcome).not.toHaveProperty('nativeSystemPrompt');
  }, 30_000);
});
