import { ErrorCode, GatewayError, type GenerateOutcome, type GenerationResult } from '@aigw/core';
import { waitFor } from '@aigw/testing';
import {
  chat,
  GatewayHarness,
  lastUserText,
  readUntil,
  sseEvents,
  type ErrorEnvelope,
  type GenerateJob,
} from './support';
import { GENERATE_ATTEMPTS } from '../../apps/api-gateway/src/generation/generation-queue';

interface Completion {
  id: string;
  object: string;
  model: string;
  choices: { index: number; message: { role: string; content: string }; finish_reason: string; logprobs: null }[];
  usage: {
    prompt_tokens: number;
    completion_tokens: number;
    total_tokens: number;
    prompt_tokens_details: { cached_tokens: number };
  };
}

interface Chunk {
  object: string;
  model: string;
  choices: { delta: { role?: string; content?: string }; finish_reason: string | null }[];
  usage?: { completion_tokens: number };
}

const DEADLINE_MS = 4_000;

/** POST /v1/chat/completions against a stand-in worker: replies, streams, failures, lost messages, cancels. */
describe('POST /v1/chat/completions', () => {
  const h = new GatewayHarness({ REQUEST_TIMEOUT_MS: String(DEADLINE_MS) });

  beforeAll(() => h.start(), 60_000);
  afterAll(() => h.stop(), 30_000);
  beforeEach(() => h.handle((job) => h.answer(job, lastUserText(job.data.request))));

  it('answers a non-streamed request with an OpenAI completion and the x-gateway headers', async () => {
    let seen: GenerateJob | undefined;
    h.handle((job) => {
      seen = job;
      return h.answer(job, 'hello back');
    });
    const res = await h.post(
      '/v1/chat/completions',
      chat('hello', { temperature: 0.3, max_completion_tokens: 20, stop: 'END' }),
    );
    expect(res.status).toBe(200);
    const body = (await res.json()) as Completion;
    expect(body).toMatchObject({
      object: 'chat.completion',
      model: 'sim/sim-gpt',
      choices: [
        { index: 0, message: { role: 'assistant', content: 'hello back' }, finish_reason: 'stop', logprobs: null },
      ],
      usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5, prompt_tokens_details: { cached_tokens: 0 } },
    });
    const requestId = res.headers.get('x-request-id');
    expect(res.headers.get('x-gateway-provider')).toBe('sim');
    expect(res.headers.get('x-gateway-model')).toBe('sim-gpt');
    expect(res.headers.get('x-gateway-attempts')).toBe('1');
    expect(res.headers.get('x-gateway-route')).toBe('direct');
    // The response cache is off by default.
    expect(res.headers.get('x-gateway-cache')).toBe('bypass');
    expect(res.headers.get('x-gateway-cost-usd')).toBe('0.000007');
    // The job the worker got: the request as mapped, its id being the echoed request id.
    expect(seen?.id).toBe(requestId);
    // Re-run only for infrastructure failures (a worker stopped before Redis came back), with backoff.
    expect(seen?.opts.attempts).toBe(GENERATE_ATTEMPTS);
    expect(seen?.opts.backoff).toEqual({ type: 'exponential', delay: 1000 });
    expect(seen?.data.replyTo).toMatch(new RegExp(`^${h.prefix}:reply:`));
    expect(seen?.data.request).toMatchObject({
      requestId,
      model: 'sim-gpt',
      messages: [{ role: 'user', content: 'hello' }],
      options: { temperature: 0.3, maxTokens: 20, stop: ['END'] },
      stream: false,
    });
  });

  it('never turns a client-chosen x-request-id into a job id', async () => {
    const res = await h.post('/v1/chat/completions', chat('mine'), h.headers(h.adminKey, { 'x-request-id': 'my-id' }));
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('my-id');
    expect(h.jobsSeen).not.toContain('my-id');
  });

  it('streams chunks in order, then the finish chunk, usage and [DONE]', async () => {
    const res = await h.post(
      '/v1/chat/completions',
      chat('one two three four', { stream: true, stream_options: { include_usage: true } }),
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.headers.get('x-accel-buffering')).toBe('no');
    expect(res.headers.get('x-request-id')).toMatch(/^req_/);
    expect(res.headers.get('x-gateway-provider')).toBe('sim');
    expect(res.headers.get('x-gateway-model')).toBe('sim-gpt');
    expect(res.headers.get('x-gateway-route')).toBe('direct');
    expect(res.headers.get('x-gateway-attempts')).toBe('1');
    const { payloads } = await sseEvents(res);
    expect(payloads[payloads.length - 1]).toBe('[DONE]');
    const chunks = payloads.slice(0, -1) as Chunk[];
    expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.model === 'sim/sim-gpt')).toBe(true);
    expect(chunks[0].choices[0].delta).toEqual({ role: 'assistant', content: '' });
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(text).toBe('one two three four');
    expect(chunks.slice(1, 5).map((c) => c.choices[0].delta.content)).toEqual(['one', ' two', ' three', ' four']);
    expect(chunks[chunks.length - 2].choices[0].finish_reason).toBe('stop');
    expect(chunks[chunks.length - 1].choices).toEqual([]);
    expect(chunks[chunks.length - 1].usage?.completion_tokens).toBe(2);
  });

  it('puts chunks that arrive out of order back in order', async () => {
    h.handle(async (job) => {
      const jobId = job.id ?? '';
      const result = h.result(job.data.request, 'a b c');
      await h.publish(job, h.startMessage(job));
      await h.publish(job, { t: 'chunk', jobId, seq: 0, text: 'a' });
      await h.publish(job, { t: 'chunk', jobId, seq: 2, text: ' c' });
      await h.publish(job, { t: 'chunk', jobId, seq: 1, text: ' b' });
      await h.publish(job, { t: 'end', jobId, result });
      return { ok: true, result };
    });
    const { payloads } = await sseEvents(await h.post('/v1/chat/completions', chat('x', { stream: true })));
    const contents = (payloads.slice(0, -1) as Chunk[]).map((c) => c.choices[0]?.delta.content).filter(Boolean);
    expect(contents).toEqual(['a', ' b', ' c']);
    expect(payloads[payloads.length - 1]).toBe('[DONE]');
  });

  it('fills in a lost chunk from the final text, never emitting out of order', async () => {
    h.handle(async (job) => {
      const jobId = job.id ?? '';
      const result = h.result(job.data.request, 'a b c d');
      await h.publish(job, h.startMessage(job));
      await h.publish(job, { t: 'chunk', jobId, seq: 0, text: 'a' });
      // seq 1 lost
      await h.publish(job, { t: 'chunk', jobId, seq: 2, text: ' c' });
      await h.publish(job, { t: 'chunk', jobId, seq: 3, text: ' d' });
      await h.publish(job, { t: 'end', jobId, result });
      return { ok: true, result };
    });
    const { payloads } = await sseEvents(await h.post('/v1/chat/completions', chat('x', { stream: true })));
    const contents = (payloads.slice(0, -1) as Chunk[]).map((c) => c.choices[0]?.delta.content).filter(Boolean);
    expect(contents).toEqual(['a', ' b c d']);
    expect(payloads[payloads.length - 1]).toBe('[DONE]');
  });

  it('completes a tool call whose last fragment was lost, the end saying how many chunks the worker sent', async () => {
    // No later chunk shows the gap: only the count in `end` does. The text was complete; the call's arguments were not.
    h.handle(async (job) => {
      const jobId = job.id ?? '';
      const toolCalls = [{ id: 'call_1', type: 'function' as const, function: { name: 'f', arguments: '{"a":1}' } }];
      const result = h.result(job.data.request, 'ok', { toolCalls, finishReason: 'tool_calls' });
      await h.publish(job, h.startMessage(job));
      await h.publish(job, { t: 'chunk', jobId, seq: 0, text: 'ok' });
      await h.publish(job, {
        t: 'chunk',
        jobId,
        seq: 1,
        text: '',
        toolCalls: [{ index: 0, id: 'call_1', name: 'f', arguments: '{"a"' }],
      });
      // seq 2 (arguments ':1}') lost
      await h.publish(job, { t: 'end', jobId, result, chunks: 3 });
      return { ok: true, result };
    });
    const { payloads } = await sseEvents(await h.post('/v1/chat/completions', chat('x', { stream: true })));
    expect(payloads.at(-1)).toBe('[DONE]');
    const args = (payloads.slice(0, -1) as Chunk[])
      .flatMap((c) => (c.choices[0]?.delta as { tool_calls?: { function: { arguments: string } }[] }).tool_calls ?? [])
      .map((f) => f.function.arguments)
      .join('');
    expect(args).toBe('{"a":1}');
  });

  it('maps an error reply to its status and the envelope, with Retry-After', async () => {
    h.handle(async (job) => {
      const error = {
        message: 'All providers failed.',
        type: 'provider_error' as const,
        code: ErrorCode.AllProvidersFailed,
        param: null,
      };
      await h.publish(job, { t: 'error', jobId: job.id ?? '', error, retryAfterMs: 2500 });
      return { ok: false, error, retryAfterMs: 2500 };
    });
    const res = await h.post('/v1/chat/completions', chat('fail please'));
    expect(res.status).toBe(502);
    expect(res.headers.get('retry-after')).toBe('3');
    // The gateway already retried and fell back: the SDKs are told not to repeat it.
    expect(res.headers.get('x-should-retry')).toBe('false');
    expect(res.headers.get('x-request-id')).toMatch(/^req_/);
    const body = (await res.json()) as ErrorEnvelope;
    expect(body.error).toMatchObject({ code: 'all_providers_failed', type: 'provider_error', param: null });
  });

  it('answers a stream that fails before its first token with a plain HTTP error', async () => {
    h.handle(async (job) => {
      const error = {
        message: 'Rate limited.',
        type: 'rate_limit_error' as const,
        code: ErrorCode.RateLimited,
        param: null,
      };
      await h.publish(job, { t: 'error', jobId: job.id ?? '', error });
      return { ok: false, error };
    });
    const res = await h.post('/v1/chat/completions', chat('x', { stream: true }));
    expect(res.status).toBe(429);
    expect(res.headers.get('content-type')).toContain('application/json');
    // A rate limit passes: the SDKs' own rule (retry after Retry-After) stands.
    expect(res.headers.get('x-should-retry')).toBeNull();
    expect(((await res.json()) as ErrorEnvelope).error.code).toBe('rate_limit_exceeded');
  });

  it('ends a stream that fails after its start with an error event and no [DONE]', async () => {
    h.handle(async (job) => {
      const jobId = job.id ?? '';
      const error = {
        message: 'Provider broke.',
        type: 'provider_error' as const,
        code: ErrorCode.ProviderError,
        param: null,
      };
      await h.publish(job, h.startMessage(job, { id: 'c1' }));
      await h.publish(job, { t: 'chunk', jobId, seq: 0, text: 'partial' });
      await h.publish(job, { t: 'error', jobId, error });
      return { ok: false, error };
    });
    const res = await h.post('/v1/chat/completions', chat('x', { stream: true }));
    expect(res.status).toBe(200);
    const { payloads } = await sseEvents(res);
    expect(payloads).not.toContain('[DONE]');
    expect(payloads[payloads.length - 1]).toEqual({
      error: { message: 'Provider broke.', type: 'provider_error', code: 'provider_error', param: null },
    });
    expect((payloads[1] as Chunk).choices[0].delta.content).toBe('partial');
  });

  it('ends a stream the provider cut for overload with service_unavailable_error provider_overloaded', async () => {
    h.handle(async (job) => {
      const jobId = job.id ?? '';
      const error = new GatewayError(ErrorCode.ProviderOverloaded, 'Provider is overloaded.').toBody();
      await h.publish(job, h.startMessage(job, { provider: 'sim-b', model: 'sim-claude', id: 'c1' }));
      await h.publish(job, { t: 'chunk', jobId, seq: 0, text: 'partial' });
      await h.publish(job, { t: 'error', jobId, error });
      return { ok: false, error };
    });
    const chatRes = await h.post('/v1/chat/completions', { ...chat('x', { stream: true }), model: 'sim-claude' });
    expect(chatRes.status).toBe(200);
    const { payloads } = await sseEvents(chatRes);
    expect(payloads.at(-1)).toEqual({
      error: {
        message: 'Provider is overloaded.',
        type: 'service_unavailable_error',
        code: 'provider_overloaded',
        param: null,
      },
    });
    // The Anthropic entrance: Anthropic's own type for it, as Claude said it.
    const messagesRes = await h.post('/v1/messages', {
      model: 'sim-claude',
      max_tokens: 16,
      stream: true,
      messages: [{ role: 'user', content: 'x' }],
    });
    expect(messagesRes.status).toBe(200);
    const text = await messagesRes.text();
    const last = text.trim().split('\n\n').at(-1) ?? '';
    expect(last.split('\n')[0]).toBe('event: error');
    expect(JSON.parse(last.split('\n')[1].slice('data: '.length))).toMatchObject({
      type: 'error',
      error: { type: 'overloaded_error', code: 'provider_overloaded' },
    });
  });

  it('answers from the stored return value when the reply message is lost', async () => {
    h.handle((job) => h.answer(job, 'from the job store', { publish: false }));
    const res = await h.post('/v1/chat/completions', chat('x'));
    expect(res.status).toBe(200);
    expect(((await res.json()) as Completion).choices[0].message.content).toBe('from the job store');
  });

  it('finishes a stream from the stored result when its end message is lost', async () => {
    h.handle(async (job) => {
      const jobId = job.id ?? '';
      const result = h.result(job.data.request, 'a b c');
      await h.publish(job, h.startMessage(job));
      await h.publish(job, { t: 'chunk', jobId, seq: 0, text: 'a' });
      // everything after the first chunk is lost
      return { ok: true, result };
    });
    const { payloads } = await sseEvents(await h.post('/v1/chat/completions', chat('x', { stream: true })));
    const contents = (payloads.slice(0, -1) as Chunk[]).map((c) => c.choices[0]?.delta.content).filter(Boolean);
    expect(contents).toEqual(['a', ' b c']);
    expect(payloads[payloads.length - 1]).toBe('[DONE]');
  });

  it('ends a stream with an error event when what was sent does not match the stored result', async () => {
    h.handle(async (job) => {
      const jobId = job.id ?? '';
      const result = h.result(job.data.request, 'something else entirely');
      await h.publish(job, h.startMessage(job));
      await h.publish(job, { t: 'chunk', jobId, seq: 0, text: 'a' });
      await h.publish(job, { t: 'chunk', jobId, seq: 2, text: ' c' });
      return { ok: true, result };
    });
    const { payloads } = await sseEvents(await h.post('/v1/chat/completions', chat('x', { stream: true })));
    expect(payloads).not.toContain('[DONE]');
    expect((payloads[payloads.length - 1] as ErrorEnvelope).error.code).toBe('internal_error');
  });

  it('answers 504 at the deadline and cancels the job', async () => {
    let jobId = '';
    let requestId = '';
    h.handle(async (job) => {
      jobId = job.id ?? '';
      requestId = job.data.request.requestId;
      await h.cancelled(jobId, DEADLINE_MS + 5_000);
      return h.answer(job, 'too late', { publish: false });
    });
    const started = Date.now();
    const res = await h.post('/v1/chat/completions', chat('slow'));
    expect(res.status).toBe(504);
    expect(Date.now() - started).toBeGreaterThanOrEqual(DEADLINE_MS - 200);
    expect(((await res.json()) as ErrorEnvelope).error.code).toBe('timeout');
    await waitFor(() => h.cancels.find((c) => c.jobId === jobId), { message: 'no cancel message' });
    // The run's request id too: a worker stops that run only, not a later one of the same job (an Idempotency-Key replay).
    expect(h.cancels.find((c) => c.jobId === jobId)).toEqual({ ns: h.prefix, jobId, requestId, reason: 'deadline' });
  }, 15_000);

  it('cancels the job when the client disconnects mid-stream', async () => {
    let jobId = '';
    h.handle(async (job) => {
      jobId = job.id ?? '';
      const result = h.result(job.data.request, 'never finished');
      await h.publish(job, h.startMessage(job));
      await h.publish(job, { t: 'chunk', jobId, seq: 0, text: 'never' });
      await h.cancelled(jobId);
      return { ok: true, result };
    });
    const abort = new AbortController();
    const res = await fetch(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      headers: h.headers(),
      body: JSON.stringify(chat('x', { stream: true })),
      signal: abort.signal,
    });
    await readUntil(res, 'never');
    abort.abort();
    await waitFor(() => h.cancels.find((c) => c.jobId === jobId), { message: 'no cancel message after disconnect' });
    expect(h.cancels.find((c) => c.jobId === jobId)?.reason).toBe('client_disconnected');
  });

  it('cancels and removes a job still waiting when a non-streamed client goes away', async () => {
    // Paused globally: a job added now stays waiting (a paused local worker may still grab one).
    await h.queue.pause();
    try {
      const abort = new AbortController();
      const pending = fetch(`${h.url}/v1/chat/completions`, {
        method: 'POST',
        headers: h.headers(),
        body: JSON.stringify(chat('x')),
        signal: abort.signal,
      }).catch(() => undefined);
      const [waiting] = await waitFor(async () => {
        const jobs = await h.queue.getJobs(['waiting', 'paused']);
        return jobs.length > 0 ? jobs : null;
      });
      abort.abort();
      await pending;
      const jobId = waiting.id ?? '';
      await waitFor(() => h.cancels.find((c) => c.jobId === jobId), { message: 'no cancel message after disconnect' });
      expect(h.cancels.find((c) => c.jobId === jobId)?.reason).toBe('client_disconnected');
      await waitFor(async () => (await h.queue.getJob(jobId)) === undefined, { message: 'waiting job not removed' });
    } finally {
      await h.queue.resume();
    }
  });

  it('relays a generic worker outcome through the native API too', async () => {
    h.handle((job): Promise<GenerateOutcome> => h.answer(job, `native: ${lastUserText(job.data.request)}`));
    const res = await h.post('/api/v1/ai/generate', {
      prompt: 'hi',
      systemPrompt: 'be nice',
      options: { maxTokens: 5 },
      context: 'coding',
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-gateway-provider')).toBe('sim');
    const body = (await res.json()) as Partial<GenerationResult> & { requestId: string };
    expect(body).toMatchObject({ text: 'native: hi', provider: 'sim', model: 'sim-gpt', costUsd: 0.000007 });
    expect(body.requestId).toBe(res.headers.get('x-request-id'));
    expect(body.attempts).toHaveLength(1);
    expect(body.usage).toEqual({ promptTokens: 3, completionTokens: 2, totalTokens: 5, cachedPromptTokens: 0 });
  });

  it("says the client's own x-request-id as the native body's requestId (the job's id stays the gateway's)", async () => {
    h.handle((job): Promise<GenerateOutcome> => h.answer(job, 'mine'));
    const res = await h.post(
      '/api/v1/ai/generate',
      { prompt: 'hi' },
      h.headers(h.adminKey, { 'x-request-id': 'cli-7' }),
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('cli-7');
    expect(((await res.json()) as { requestId: string }).requestId).toBe('cli-7');
    expect(h.jobsSeen).not.toContain('cli-7');
  });

  it("an Idempotency-Key replay's native body names the replay's x-request-id", async () => {
    h.handle((job): Promise<GenerateOutcome> => h.answer(job, 'once'));
    const headers = h.headers(h.adminKey, { 'idempotency-key': 'native-rid' });
    const first = await h.post('/api/v1/ai/generate', { prompt: 'hi' }, headers);
    const replay = await h.post('/api/v1/ai/generate', { prompt: 'hi' }, headers);
    expect(replay.headers.get('x-gateway-idempotent-replay')).toBe('true');
    const [a, b] = [(await first.json()) as { requestId: string }, (await replay.json()) as { requestId: string }];
    expect(a.requestId).toBe(first.headers.get('x-request-id'));
    expect(b.requestId).toBe(replay.headers.get('x-request-id'));
    expect(b.requestId).not.toBe(a.requestId);
  });
});
