import 'reflect-metadata';
import type { ReplyMessage } from '@aigw/core';
import { CatalogService } from '@aigw/platform';
import { waitFor } from '@aigw/testing';
import { WorkerHarness } from './support';

type Of<T extends ReplyMessage['t']> = Extract<ReplyMessage, { t: T }>;

describe('router-worker: generate jobs (in-process, real Redis/PostgreSQL, simulator)', () => {
  // Retries and fallback are covered in test/routing-e2e; here one failure is one answer.
  const h = new WorkerHarness({ env: { RETRY_MAX: '0' } });

  beforeAll(() => h.start(), 60_000);
  afterAll(() => h.stop(), 30_000);
  beforeEach(() => {
    h.sim.configure({
      latencyMs: 0,
      chunkDelayMs: 0,
      failNext: 0,
      failMode: 'status',
      completionTokens: 32,
      echo: false,
      reportUsage: true,
    });
    h.sim.reset();
  });

  it('answers a non-streamed request on the reply channel and as the stored outcome', async () => {
    h.sim.configure({ echo: true });
    const job = await h.enqueue({ messages: [{ role: 'user', content: 'ping pong' }] });
    const replies = await h.finalReplies(job.id!);
    expect(replies.map((m) => m.t)).toEqual(['result']);
    const { result } = replies[0] as Of<'result'>;
    expect(result).toMatchObject({
      requestId: job.data.request.requestId,
      text: 'ping pong',
      provider: 'sim-openai',
      model: 'sim-gpt',
      route: 'direct',
      finishReason: 'stop',
      attempts: [{ provider: 'sim-openai', model: 'sim-gpt', ok: true, route: 'direct', retries: 0 }],
    });
    expect(result.usage.promptTokens).toBeGreaterThan(0);
    expect(result.usage.completionTokens).toBeGreaterThan(0);
    expect(result.costUsd).toBeGreaterThan(0);
    expect(result.latencyMs).toBeGreaterThanOrEqual(result.providerLatencyMs);
    await expect(h.outcome(job.id!)).resolves.toEqual({ ok: true, result });
    // The provider was called with the upstream model name and the key from the catalog.
    const [sent] = h.sim.lastRequests(1);
    expect(sent).toMatchObject({ route: 'POST /v1/chat/completions', hadAuth: true, body: { model: 'sim-gpt' } });
  });

  it("keeps a sync job's outcome before BullMQ removes the job: until the deadline, or keepOutcomeMs", async () => {
    const redis = h.producer;
    const plain = await h.enqueueSync({ deadlineAt: Date.now() + 30_000 });
    const keyed = await h.enqueueSync({}, 600_000);
    for (const job of [plain, keyed]) {
      const [reply] = await h.finalReplies(job.id!);
      await waitFor(async () => (await h.queue.getJob(job.id!)) === undefined, { message: 'job not removed' });
      const kept = JSON.parse((await redis.get(h.outcomeKey(job.id!))) ?? 'null') as unknown;
      // With whose it is (user and key) and when it was asked (GET /jobs/:id authorises and dates the job with them),
      // and its usage event (a re-run of the job answers from it: sync-rerun-kept-outcome.test.ts).
      expect(kept).toEqual({
        ok: true,
        result: (reply as Of<'result'>).result,
        userId: job.data.request.userId,
        apiKeyId: job.data.request.apiKeyId,
        receivedAt: expect.any(Number) as unknown,
        usage: expect.objectContaining({ requestId: job.data.request.requestId, status: 'success' }) as unknown,
      });
    }
    // Not a second copy as BullMQ's return value: the queue's event stream (nothing else sees it) says null.
    const events = await redis.xrevrange(h.queue.keys.events, '+', '-', 'COUNT', 50);
    const completed = events
      .map(([, fields]) => Object.fromEntries(fields.flatMap((v, i) => (i % 2 === 0 ? [[v, fields[i + 1]]] : []))))
      .filter((e: Record<string, string>) => e.event === 'completed' && [plain.id, keyed.id].includes(e.jobId));
    expect(completed.map((e: Record<string, string>) => e.returnvalue)).toEqual(['null', 'null']);
    // Deadline (30 s) plus the 10 s margin; the keyed one its 10 minutes.
    expect(await redis.pttl(h.outcomeKey(plain.id!))).toBeGreaterThan(30_000);
    expect(await redis.pttl(h.outcomeKey(plain.id!))).toBeLessThanOrEqual(40_000);
    expect(await redis.pttl(h.outcomeKey(keyed.id!))).toBeGreaterThan(590_000);
    // An async job keeps its return value in BullMQ and no outcome key.
    const async = await h.enqueue({}, null);
    expect(await h.outcome(async.id!)).toMatchObject({ ok: true });
    expect(await redis.exists(h.outcomeKey(async.id!))).toBe(0);
  });

  it('streams start, chunks in order and an end carrying the usage', async () => {
    h.sim.configure({ completionTokens: 12, cachedTokens: 2 });
    const job = await h.enqueue({ stream: true });
    const replies = await h.finalReplies(job.id!);
    const [start, ...rest] = replies;
    const end = rest.pop() as Of<'end'>;
    const chunks = rest as Of<'chunk'>[];
    expect(start).toMatchObject({ t: 'start', jobId: job.id, provider: 'sim-openai', model: 'sim-gpt' });
    expect((start as Of<'start'>).id).toBe(end.result.id);
    // The provider's fingerprint reaches the gateway with the start, which stamps every chunk with it.
    expect((start as Of<'start'>).systemFingerprint).toBe('fp_simulator');
    expect(end.result.systemFingerprint).toBe('fp_simulator');
    expect(chunks.length).toBeGreaterThanOrEqual(12);
    expect(chunks.every((c) => c.t === 'chunk')).toBe(true);
    expect(chunks.map((c) => c.seq)).toEqual(chunks.map((_, i) => i));
    expect(end.t).toBe('end');
    expect(chunks.map((c) => c.text).join('')).toBe(end.result.text);
    expect(chunks.at(-1)?.finishReason).toBe('stop');
    expect(end.result.usage).toMatchObject({ completionTokens: 12, cachedPromptTokens: 2 });
    expect(end.result.usage.promptTokens).toBeGreaterThan(0);
    expect(h.sim.stats().streams).toBe(1);
    await expect(h.outcome(job.id!)).resolves.toEqual({ ok: true, result: end.result });
  });

  it('calls an Anthropic provider through its own wire format', async () => {
    h.sim.configure({ echo: true });
    const stream = await h.enqueue({
      model: 'sim-claude',
      stream: true,
      messages: [{ role: 'user', content: 'bonjour' }],
    });
    const plain = await h.enqueue({
      model: 'sim-anthropic/sim-claude',
      messages: [{ role: 'user', content: 'salut' }],
    });
    const streamed = (await h.finalReplies(stream.id!)).at(-1) as Of<'end'>;
    const answered = (await h.finalReplies(plain.id!))[0] as Of<'result'>;
    expect(streamed.result).toMatchObject({ provider: 'sim-anthropic', model: 'sim-claude', text: 'bonjour' });
    expect(answered.result).toMatchObject({ provider: 'sim-anthropic', model: 'sim-claude', text: 'salut' });
    expect(answered.result.usage.completionTokens).toBeGreaterThan(0);
    expect(h.sim.stats().byRoute['POST /v1/messages']).toBe(2);
  });

  it('answers a provider 500 with all_providers_failed and the failed attempt', async () => {
    h.sim.configure({ failNext: 1, failStatus: [500] });
    const job = await h.enqueue();
    const replies = await h.finalReplies(job.id!);
    expect(replies).toHaveLength(1);
    const reply = replies[0] as Of<'error'>;
    expect(reply.t).toBe('error');
    expect(reply.error).toMatchObject({
      code: 'all_providers_failed',
      type: 'provider_error',
      attempts: [{ provider: 'sim-openai', model: 'sim-gpt', ok: false, errorClass: 'provider', status: 500 }],
    });
    // The secret never leaves the worker.
    expect(JSON.stringify(reply)).not.toContain('secret');
    await expect(h.outcome(job.id!)).resolves.toEqual({ ok: false, error: reply.error, abortCause: null });
  });

  it('ends a stream that fails midway with an error after the chunks already sent', async () => {
    h.sim.configure({ failNext: 1, failMode: 'drop_mid_stream', failAfterChunks: 3 });
    const job = await h.enqueue({ stream: true });
    const replies = await h.finalReplies(job.id!);
    expect(replies[0]).toMatchObject({ t: 'start', provider: 'sim-openai' });
    const error = replies.at(-1) as Of<'error'>;
    expect(error).toMatchObject({ t: 'error', error: { code: 'provider_error' } });
    expect(error.error.attempts?.[0]).toMatchObject({ ok: false, provider: 'sim-openai' });
    const chunks = replies.filter((m): m is Of<'chunk'> => m.t === 'chunk');
    expect(chunks.map((c) => c.seq)).toEqual(chunks.map((_, i) => i));
    expect(replies.some((m) => m.t === 'end')).toBe(false);
  });

  it('names a stream Claude cut midway with overloaded_error provider_overloaded, not a bare provider error', async () => {
    // Chunks apart, each in a read of its own (test/worker/stream-failures.test.ts has them read at once).
    h.sim.configure({
      failNext: 1,
      failMode: 'error_mid_stream',
      failAfterChunks: 3,
      failStatus: [529],
      chunkDelayMs: 20,
    });
    const job = await h.enqueue({ model: 'sim-anthropic/sim-claude', stream: true });
    const replies = await h.finalReplies(job.id!);
    expect(replies[0]).toMatchObject({ t: 'start', provider: 'sim-anthropic' });
    expect(replies.some((m) => m.t === 'chunk')).toBe(true);
    const error = replies.at(-1) as Of<'error'>;
    expect(error).toMatchObject({
      t: 'error',
      error: { code: 'provider_overloaded', type: 'service_unavailable_error' },
    });
    expect(error.error.attempts?.[0]).toMatchObject({ ok: false, provider: 'sim-anthropic' });
  });

  it('counts the billed part of a stream cut midway in the cost and token metrics, as its usage row says', async () => {
    const metric = async (pattern: RegExp): Promise<number> => Number(pattern.exec(await h.metrics())?.[1] ?? 0);
    const cost = /^aigw_cost_usd_total\{provider="sim-openai",model="sim-gpt"\} ([\d.e-]+)$/m;
    const completion = /^aigw_tokens_total\{provider="sim-openai",model="sim-gpt",type="completion"\} (\d+)$/m;
    const [costBefore, completionBefore] = [await metric(cost), await metric(completion)];
    h.sim.configure({ failNext: 1, failMode: 'drop_mid_stream', failAfterChunks: 3 });
    const job = await h.enqueue({ stream: true });
    const replies = await h.finalReplies(job.id!);
    expect(replies.at(-1)).toMatchObject({ t: 'error', error: { code: 'provider_error' } });
    const [row] = await waitFor(async () => {
      const r = await h.usageRows([job.data.request.requestId]);
      return r.length === 1 ? r : null;
    });
    expect(Number(row.cost_usd)).toBeGreaterThan(0);
    expect((await metric(cost)) - costBefore).toBeCloseTo(Number(row.cost_usd), 9);
    expect((await metric(completion)) - completionBefore).toBe(Number(row.completion_tokens));
  });

  it('answers an unknown model with model_not_found and a stream for a model that cannot stream with invalid_request', async () => {
    const unknown = await h.enqueue({ model: 'no-such-model' });
    const noStream = await h.enqueue({ model: 'sim-chat-only', stream: true });
    const [unknownReply] = await h.finalReplies(unknown.id!);
    expect(unknownReply).toMatchObject({ t: 'error', error: { code: 'model_not_found', param: 'model' } });
    const [noStreamReply] = await h.finalReplies(noStream.id!);
    expect(noStreamReply).toMatchObject({ t: 'error', error: { code: 'invalid_request' } });
    expect(h.sim.stats().total).toBe(0);
  });

  it('resolves the cheapest alias to the cheapest enabled chat deployment', async () => {
    const cheapest = [...h.app.get(CatalogService).deployments()]
      .filter((d) => d.provider.enabled && d.model.enabled && d.model.capabilities.includes('chat'))
      .sort(
        (a, b) => a.model.promptPer1k + a.model.completionPer1k - (b.model.promptPer1k + b.model.completionPer1k),
      )[0];
    const job = await h.enqueue({ model: 'cheapest' });
    const [reply] = await h.finalReplies(job.id!);
    expect(reply).toMatchObject({
      t: 'result',
      result: { provider: cheapest.provider.id, model: cheapest.model.name },
    });
  });

  it('stores the outcome of an async job without publishing anything', async () => {
    const job = await h.enqueue({}, null);
    const outcome = await h.outcome(job.id!);
    expect(outcome.ok).toBe(true);
    expect(h.repliesOf(job.id!)).toEqual([]);
  });

  it("counts async jobs' requests in aigw_requests_total by their final outcome, and no sync one", async () => {
    // The gateway answers an async submission 202 and never sees its end: only the worker can count it.
    const requests = (exposition: string, labels: string): number =>
      Number(new RegExp(`^aigw_requests_total\\{${labels}\\} (\\d+)$`, 'm').exec(exposition)?.[1] ?? 0);
    const ok = 'provider="sim-openai",model="sim-gpt",status="success",cache="bypass"';
    const failed = 'provider="none",model="none",status="all_providers_failed",cache="bypass"';
    const before = await h.metrics();
    await h.outcome((await h.enqueue({}, null)).id!);
    h.sim.configure({ failNext: 1, failStatus: [500] });
    expect(await h.outcome((await h.enqueue({}, null)).id!)).toMatchObject({ ok: false });
    // A sync job is the gateway's to count.
    await h.finalReplies((await h.enqueue()).id!);
    const after = await h.metrics();
    expect(requests(after, ok) - requests(before, ok)).toBe(1);
    expect(requests(after, failed) - requests(before, failed)).toBe(1);
    const total = (e: string): number =>
      [...e.matchAll(/^aigw_requests_total\{.*\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
    expect(total(after) - total(before)).toBe(2);
  });

  it('a cancel message stops a streaming provider call, and nobody is answered', async () => {
    h.sim.configure({ completionTokens: 200, chunkDelayMs: 50 });
    const before = await h.metrics();
    const job = await h.enqueue({ stream: true });
    await waitFor(() => h.repliesOf(job.id!).some((m) => m.t === 'chunk'), { timeoutMs: 10_000 });
    await h.cancel(job.id!);
    const outcome = await h.outcome(job.id!);
    expect(outcome).toMatchObject({ ok: false, error: { code: 'timeout' }, abortCause: 'client_disconnected' });
    await waitFor(() => h.sim.stats().cancelled === 1, { timeoutMs: 5000, message: 'provider call not cancelled' });
    const replies = h.repliesOf(job.id!);
    expect(replies.some((m) => m.t === 'end' || m.t === 'error')).toBe(false);
    expect(replies.filter((m) => m.t === 'chunk').length).toBeLessThan(200);
    expect(await h.metrics()).toMatch(/^aigw_worker_streams_aborted_total 1$/m);
    // A job its client cancelled is not an error: it must not feed error-rate alerts.
    await waitFor(async () => generateJobs(await h.metrics(), 'cancelled') === generateJobs(before, 'cancelled') + 1, {
      message: 'not counted as cancelled',
    });
    expect(generateJobs(await h.metrics(), 'error')).toBe(generateJobs(before, 'error'));
  });

  it('ignores cancel messages of another namespace', async () => {
    h.sim.configure({ latencyMs: 1000 });
    const kept = await h.enqueue();
    const cancelled = await h.enqueue();
    await waitFor(() => h.sim.stats().inFlight === 2, { timeoutMs: 5000 });
    // Both go through one publisher and one channel, in order: once the second took effect, the first was seen.
    await h.cancel(kept.id!, 'client_disconnected', `${h.prefix}_other`);
    await h.cancel(cancelled.id!);
    await expect(h.outcome(cancelled.id!)).resolves.toMatchObject({ ok: false });
    await expect(h.outcome(kept.id!)).resolves.toMatchObject({ ok: true });
    expect(h.sim.stats().cancelled).toBe(1);
  });

  it('aborts the provider call at the deadline and answers timeout', async () => {
    h.sim.configure({ latencyMs: 10_000 });
    const job = await h.enqueue({ deadlineAt: Date.now() + 500 });
    const [reply] = await h.finalReplies(job.id!);
    expect(reply).toMatchObject({
      t: 'error',
      error: { code: 'timeout', attempts: [{ provider: 'sim-openai', ok: false, errorClass: 'cancelled' }] },
    });
    await waitFor(() => h.sim.stats().cancelled === 1, { timeoutMs: 5000, message: 'provider call not cancelled' });
  });

  it('answers timeout without calling the provider when the deadline passed while the job waited', async () => {
    const job = await h.enqueue({ deadlineAt: Date.now() - 1 });
    const [reply] = await h.finalReplies(job.id!);
    expect(reply).toMatchObject({ t: 'error', error: { code: 'timeout' } });
    expect(h.sim.stats().total).toBe(0);
  });

  it('records usage of successes and failures in usage_records', async () => {
    const ok = await h.enqueue({ context: 'coding', policy: 'cost' });
    const okResult = ((await h.finalReplies(ok.id!))[0] as Of<'result'>).result;
    h.sim.configure({ failNext: 1, failStatus: [500] });
    const failed = await h.enqueue({ stream: true });
    await h.finalReplies(failed.id!);
    const ids = [ok.data.request.requestId, failed.data.request.requestId];
    const rows = await waitFor(async () => {
      const r = await h.usageRows(ids);
      return r.length === 2 ? r : undefined;
    });
    const byId = new Map(rows.map((r) => [r.request_id, r]));
    expect(byId.get(ids[0])).toMatchObject({
      user_id: ok.data.request.userId,
      api_key_id: ok.data.request.apiKeyId,
      requested_model: 'sim-gpt',
      provider: 'sim-openai',
      model: 'sim-gpt',
      context: 'coding',
      policy: 'cost',
      status: 'success',
      prompt_tokens: okResult.usage.promptTokens,
      completion_tokens: okResult.usage.completionTokens,
      attempts: 1,
      stream: false,
      error_class: null,
    });
    expect(Number(byId.get(ids[0])?.cost_usd)).toBeCloseTo(okResult.costUsd, 9);
    expect(byId.get(ids[1])).toMatchObject({
      status: 'error',
      provider: 'sim-openai',
      error_class: 'provider',
      error_code: 'all_providers_failed',
      stream: true,
      attempts: 1,
    });
    const metrics = await h.metrics();
    expect(metrics).toMatch(/^aigw_usage_records_written_total \d+$/m);
    expect(metrics).toMatch(/^aigw_jobs_total\{queue="generation",name="generate",outcome="success"\} \d+$/m);
    expect(metrics).toMatch(
      /^aigw_provider_requests_total\{provider="sim-openai",model="sim-gpt",status="provider"\} \d+$/m,
    );
    expect(metrics).toMatch(/^aigw_tokens_total\{provider="sim-openai",model="sim-gpt",type="prompt"\} \d+$/m);
    expect(metrics).toMatch(/^aigw_cost_usd_total\{provider="sim-openai",model="sim-gpt"\} [\d.e-]+$/m);
    expect(metrics).toMatch(/^aigw_queue_jobs\{queue="generation",state="completed"\} \d+$/m);
    expect(metrics).toMatch(/^aigw_provider_latency_seconds_bucket\{.*outcome="success"/m);
  });

  it('bills an answer whose provider reported no usage by the estimate, streamed or not, never as free', async () => {
    h.sim.configure({ reportUsage: false, echo: true });
    const prompt = 'the quick brown fox jumps over the lazy dog';
    const whole = await h.enqueue({ messages: [{ role: 'user', content: prompt }] });
    const streamed = await h.enqueue({ messages: [{ role: 'user', content: prompt }], stream: true });
    const wholeResult = ((await h.finalReplies(whole.id!))[0] as Of<'result'>).result;
    const end = (await h.finalReplies(streamed.id!)).at(-1) as Of<'end'>;
    expect(end.t).toBe('end');
    for (const result of [wholeResult, end.result]) {
      expect(result.text).toBe(prompt);
      expect(result.usage.promptTokens).toBeGreaterThan(0);
      expect(result.usage.completionTokens).toBeGreaterThanOrEqual(9);
      expect(result.usage.totalTokens).toBe(result.usage.promptTokens + result.usage.completionTokens);
      expect(result.costUsd).toBeGreaterThan(0);
    }
    // The usage rows carry the estimate.
    const ids = [whole.data.request.requestId, streamed.data.request.requestId];
    const rows = await waitFor(async () => {
      const r = await h.usageRows(ids);
      return r.length === 2 ? r : undefined;
    });
    for (const row of rows) {
      expect(row.prompt_tokens).toBeGreaterThan(0);
      expect(row.completion_tokens).toBeGreaterThan(0);
      expect(Number(row.cost_usd)).toBeGreaterThan(0);
    }
  });

  it('serves /health/ready', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/health/ready' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'ok', info: { redis: { status: 'up' }, database: { status: 'up' } } });
  });

  it('on shutdown, stops taking jobs but lets the running one finish', async () => {
    h.sim.configure({ latencyMs: 1500, echo: true });
    const running = await h.enqueue({ messages: [{ role: 'user', content: 'finish me' }] });
    await waitFor(() => h.sim.stats().inFlight === 1, { timeoutMs: 5000 });
    await h.closeWorker();
    // close() returned only once the running job had completed, answered and uncancelled.
    expect(await running.getState()).toBe('completed');
    const [reply] = await h.finalReplies(running.id!);
    expect(reply).toMatchObject({ t: 'result', result: { text: 'finish me' } });
    await expect(h.outcome(running.id!)).resolves.toMatchObject({ ok: true });
    expect(h.sim.stats().cancelled).toBe(0);
    // Its usage was queued before the job completed, and written before the writer stopped.
    const rows = await h.usageRows([running.data.request.requestId]);
    expect(rows).toHaveLength(1);
    // Nothing takes new jobs any more.
    const late = await h.enqueue();
    await new Promise((r) => setTimeout(r, 300));
    expect(await late.getState()).toBe('waiting');
  });
});

describe('router-worker: a job taken from a backlog with less than a call left', () => {
  // A floor far above the time the job is given, so the job is still well within its deadline when the worker takes
  // it: the answer comes from this rule, not from the deadline's own abort (which answers the same, but only later).
  const h = new WorkerHarness({ env: { RETRY_MAX: '0', RETRY_MIN_CALL_MS: '60000' } });

  beforeAll(() => h.start(), 60_000);
  afterAll(() => h.stop(), 30_000);

  it('answers timeout without calling the provider, before the deadline', async () => {
    // Queued 10 min ago, taken with 20 s left: below RETRY_MIN_CALL_MS a call would be cut before a provider answers,
    // and would hold the worker from the jobs behind it.
    const now = Date.now();
    const deadlineAt = now + 20_000;
    const job = await h.enqueue({ receivedAt: now - 600_000, deadlineAt });
    const [reply] = await h.finalReplies(job.id!);
    expect(reply).toMatchObject({ t: 'error', error: { code: 'timeout' } });
    expect(Date.now()).toBeLessThan(deadlineAt);
    expect(h.sim.stats().total).toBe(0);
  });
});

/** `aigw_jobs_total` of generate jobs with this outcome, in a /metrics exposition. */
function generateJobs(exposition: string, outcome: string): number {
  const line = new RegExp(`^aigw_jobs_total\\{queue="generation",name="generate",outcome="${outcome}"\\} (\\d+)$`, 'm');
  return Number(line.exec(exposition)?.[1] ?? 0);
}
