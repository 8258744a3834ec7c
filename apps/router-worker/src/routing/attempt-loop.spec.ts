import {
  cooldownRetryMarginMs,
  DAY_MS,
  ErrorClass,
  ErrorCode,
  GatewayError,
  ProviderCallError,
  type Attempt,
  type Deployment,
  type GenerationRequest,
} from '@aigw/core';
import { classifyError, classifyHttpFailure } from '@aigw/adapters';
import { GenerationAbort, GenerationCancelledError } from '../cancel/abort';
import type { StreamObserver } from '../generation/stream-observer';
import { deployment, generationRequest } from '../generation/request.fixtures';
import { failure, LoopBench, TEST_CIRCUIT } from './attempt.fixtures';

function dep(id: string, model: Partial<Deployment['model']> = {}, provider: Partial<Deployment['provider']> = {}) {
  return deployment({ id, baseUrl: `http://${id}/v1`, ...provider }, { name: 'm', ...model });
}

const a = dep('a');
const b = dep('b');
const c = dep('c');

async function failureOf(p: Promise<unknown>): Promise<GatewayError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(err instanceof GatewayError)) {
    throw new Error(`expected a GatewayError, got ${String(err)}`);
  }
  return err;
}

describe('AttemptLoop', () => {
  let bench: LoopBench;
  let request: GenerationRequest;
  const signal = new AbortController().signal;

  beforeEach(() => {
    bench = new LoopBench();
    request = generationRequest({ deadlineAt: bench.clock.t + 60_000 });
  });

  afterEach(() => {
    // Strict fakes: a call nobody scripted is a bug in the loop (or the test).
    expect(bench.adapters.unexpected).toEqual([]);
    expect(bench.adapters.leftover()).toEqual([]);
  });

  it('answers from the first candidate, reporting the success to its circuit and the latency averages', async () => {
    bench.adapters.script('http://a/v1', { answer: 'hi', ms: 40 });
    const routed = await bench.loop.run([a, b], request, signal);
    expect(routed).toMatchObject({ deployment: a, route: 'direct', answer: { text: 'hi' }, providerLatencyMs: 40 });
    expect(routed.attempts).toEqual([
      { provider: 'a', model: 'm', route: 'direct', ok: true, latencyMs: 40, retries: 0 },
    ]);
    expect(bench.circuits.settled).toEqual([{ id: 'a/m', verdict: 'success', probe: false }]);
    expect(bench.latencies).toEqual([{ id: 'a/m', stream: false, ms: 40 }]);
  });

  it('retries a retryable failure with exponential, jittered backoff, then succeeds on the same deployment', async () => {
    bench.adapters.script(
      'http://a/v1',
      { fail: failure(ErrorClass.Provider, 503) },
      { fail: failure(ErrorClass.Network) },
      { answer: 'third time' },
    );
    const routed = await bench.loop.run([a, b], request, signal);
    expect(routed.answer.text).toBe('third time');
    // random() = 0.5: half of the caps 100 and 200 (+1 for the inclusive bound, floored).
    expect(bench.sleeps).toEqual([50, 100]);
    expect(routed.attempts).toEqual([expect.objectContaining({ provider: 'a', ok: true, retries: 2 })]);
    expect(bench.events).toEqual([
      'call a/m provider',
      'retry a/m provider',
      'call a/m network',
      'retry a/m network',
      'call a/m success',
    ]);
  });

  it("waits at least a provider's Retry-After before retrying", async () => {
    bench.adapters.script('http://a/v1', { fail: failure(ErrorClass.RateLimit, 429, 3000) }, { answer: 'ok' });
    await bench.loop.run([a], request, signal);
    // And a little more: past the cooldown the 429 wrote (cooldownRetryMarginMs).
    expect(bench.sleeps).toEqual([3000 + cooldownRetryMarginMs(3000)]);
  });

  it('a long Retry-After sends the request to the next candidate at once, without waiting', async () => {
    bench.adapters.script('http://a/v1', { fail: failure(ErrorClass.RateLimit, 429, 9000) });
    bench.adapters.script('http://b/v1', { answer: 'from b' });
    const routed = await bench.loop.run([a, b], request, signal);
    expect(routed.deployment).toBe(b);
    expect(bench.sleeps).toEqual([]);
    expect(routed.attempts).toEqual([
      expect.objectContaining({ provider: 'a', ok: false, errorClass: 'rate_limit', status: 429, retries: 0 }),
      expect.objectContaining({ provider: 'b', ok: true, retries: 0 }),
    ]);
    expect(bench.events).toEqual(['call a/m rate_limit', 'fallback deployment a/m rate_limit', 'call b/m success']);
  });

  it('a deferred deployment is retried after its wait when no other candidate answers', async () => {
    bench.adapters.script('http://a/v1', { fail: failure(ErrorClass.RateLimit, 429, 3000) }, { answer: 'a at last' });
    bench.adapters.script('http://b/v1', { fail: failure(ErrorClass.Auth, 401) });
    const routed = await bench.loop.run([a, b], request, signal);
    expect(routed.answer.text).toBe('a at last');
    // 3000 ms (and the margin past its cooldown) after a's failure, less the 10 ms b's call took.
    expect(bench.sleeps).toEqual([3000 + cooldownRetryMarginMs(3000) - 10]);
    expect(routed.attempts).toEqual([
      expect.objectContaining({ provider: 'a', ok: false, errorClass: 'rate_limit', retries: 0 }),
      expect.objectContaining({ provider: 'b', ok: false, errorClass: 'auth' }),
      // Its first retry: the retries before and after the others count as one budget.
      expect.objectContaining({ provider: 'a', ok: true, retries: 1 }),
    ]);
    // The retry is counted under a's own failure (its 429), not the last one the request saw (b's auth).
    expect(bench.events.filter((e) => e.startsWith('retry'))).toEqual(['retry a/m rate_limit']);
  });

  it('a rate limit that names no wait is not retried before the next candidate had its turn', async () => {
    bench.adapters.script('http://a/v1', { fail: failure(ErrorClass.RateLimit, 429) });
    bench.adapters.script('http://b/v1', { answer: 'from b' });
    const routed = await bench.loop.run([a, b], request, signal);
    expect(routed.deployment).toBe(b);
    expect(bench.sleeps).toEqual([]);
    expect(routed.attempts).toEqual([
      expect.objectContaining({ provider: 'a', ok: false, errorClass: 'rate_limit', status: 429, retries: 0 }),
      expect.objectContaining({ provider: 'b', ok: true, retries: 0 }),
    ]);
    expect(bench.events).toEqual(['call a/m rate_limit', 'fallback deployment a/m rate_limit', 'call b/m success']);
  });

  it('a rate limit that names no wait is retried after its backoff when the other candidates fail', async () => {
    bench.adapters.script('http://a/v1', { fail: failure(ErrorClass.RateLimit, 429) }, { answer: 'a at last' });
    bench.adapters.script('http://b/v1', { fail: failure(ErrorClass.Auth, 401) });
    const routed = await bench.loop.run([a, b], request, signal);
    expect(routed.answer.text).toBe('a at last');
    // Its first retry's backoff (random() = 0.5 of the cap 100), less the 10 ms b's call took.
    expect(bench.sleeps).toEqual([40]);
    expect(routed.attempts).toEqual([
      expect.objectContaining({ provider: 'a', ok: false, errorClass: 'rate_limit', retries: 0 }),
      expect.objectContaining({ provider: 'b', ok: false, errorClass: 'auth' }),
      expect.objectContaining({ provider: 'a', ok: true, retries: 1 }),
    ]);
  });

  it('deferred deployments are called again soonest due first, not in the order they were deferred', async () => {
    // a asked for 5 s, b for nothing (its backoff, 50 ms); c failed for good. Waiting out a's 5 s first kept the
    // request waiting while b may answer, and with a tighter deadline left no time for b's retry at all.
    bench.adapters.script('http://a/v1', { fail: failure(ErrorClass.RateLimit, 429, 5000) });
    bench.adapters.script('http://b/v1', { fail: failure(ErrorClass.RateLimit, 429) }, { answer: 'b soon' });
    bench.adapters.script('http://c/v1', { fail: failure(ErrorClass.Auth, 401) });
    const routed = await bench.loop.run([a, b, c], request, signal);
    expect(routed.answer.text).toBe('b soon');
    // b's backoff (random() = 0.5 of the cap 100), less the 10 ms c's call took.
    expect(bench.sleeps).toEqual([40]);
    expect(routed.attempts.map((x) => [x.provider, x.ok])).toEqual([
      ['a', false],
      ['b', false],
      ['c', false],
      ['b', true],
    ]);
  });

  it("the last candidate's long wait is not waited out in place while a deferred deployment is due sooner", async () => {
    // a's retry was deferred (its 429 named no wait: a 50 ms backoff); b, the last candidate, asked for 3 s. Waiting
    // out b's 3 s in place kept a's retry behind it, though a may answer in 50 ms.
    bench.adapters.script('http://a/v1', { fail: failure(ErrorClass.RateLimit, 429) }, { answer: 'a soon' });
    bench.adapters.script('http://b/v1', { fail: failure(ErrorClass.RateLimit, 429, 3000) });
    const routed = await bench.loop.run([a, b], request, signal);
    expect(routed.answer.text).toBe('a soon');
    // a's backoff (random() = 0.5 of the cap 100), less the 10 ms b's call took.
    expect(bench.sleeps).toEqual([40]);
    expect(routed.attempts.map((x) => [x.provider, x.ok])).toEqual([
      ['a', false],
      ['b', false],
      ['a', true],
    ]);
  });

  it('a rate limit that names a short wait is waited for on the same deployment', async () => {
    bench.adapters.script('http://a/v1', { fail: failure(ErrorClass.RateLimit, 429, 80) }, { answer: 'soon' });
    const routed = await bench.loop.run([a, b], request, signal);
    expect(routed.answer.text).toBe('soon');
    expect(routed.attempts).toEqual([expect.objectContaining({ provider: 'a', ok: true, retries: 1 })]);
  });

  it('a timed-out deployment is not retried before the next candidate had its turn', async () => {
    // a hung for its whole timeout: calling it again first would spend the deadline on it, as the first call did.
    bench.adapters.script('http://a/v1', { fail: failure(ErrorClass.Timeout), ms: 30_000 });
    bench.adapters.script('http://b/v1', { answer: 'from b' });
    const routed = await bench.loop.run([a, b], request, signal);
    expect(routed.deployment).toBe(b);
    expect(bench.sleeps).toEqual([]);
    expect(routed.attempts).toEqual([
      expect.objectContaining({ provider: 'a', ok: false, errorClass: 'timeout', retries: 0 }),
      expect.objectContaining({ provider: 'b', ok: true, retries: 0 }),
    ]);
  });

  it('a timed-out deployment is retried after the others failed, while the deadline leaves time', async () => {
    bench.adapters.script('http://a/v1', { fail: failure(ErrorClass.Timeout), ms: 20_000 }, { answer: 'a at last' });
    bench.adapters.script('http://b/v1', { fail: failure(ErrorClass.Auth, 401) });
    const routed = await bench.loop.run([a, b], request, signal);
    expect(routed.answer.text).toBe('a at last');
    expect(routed.attempts).toEqual([
      expect.objectContaining({ provider: 'a', ok: false, errorClass: 'timeout', retries: 0 }),
      expect.objectContaining({ provider: 'b', ok: false, errorClass: 'auth' }),
      expect.objectContaining({ provider: 'a', ok: true, retries: 1 }),
    ]);
  });

  it('a short Retry-After, or the last candidate, is waited for on the same deployment', async () => {
    bench.adapters.script('http://a/v1', { fail: failure(ErrorClass.RateLimit, 429, 80) }, { answer: 'soon' });
    expect((await bench.loop.run([a, b], request, signal)).deployment).toBe(a);
    expect(bench.sleeps).toEqual([80 + cooldownRetryMarginMs(80)]);
  });

  it('a deferred wait that would cross the deadline is not made: all_providers_failed', async () => {
    request = generationRequest({ deadlineAt: bench.clock.t + 5000 });
    bench.adapters.script('http://a/v1', { fail: failure(ErrorClass.RateLimit, 429, 4500) });
    bench.adapters.script('http://b/v1', { fail: failure(ErrorClass.Auth, 401) });
    const err = await failureOf(bench.loop.run([a, b], request, signal));
    expect(err.code).toBe(ErrorCode.AllProvidersFailed);
    expect(bench.sleeps).toEqual([]);
    expect(err.attempts?.map((x) => x.provider)).toEqual(['a', 'b']);
  });

  it('does not count a deployment without the model (its 404) against maxAttempts: the next one is tried', async () => {
    // Local servers that have not pulled the model sort first (they cost nothing): they must not use up the budget
    // of the deployments that do serve it.
    bench = new LoopBench({ maxAttempts: 2, maxRetries: 0 });
    const missing = (): ProviderCallError => classifyHttpFailure(404, {}, '{"error":"model not found"}');
    bench.adapters.script('http://a/v1', { fail: missing() });
    bench.adapters.script('http://b/v1', { fail: missing() });
    bench.adapters.script('http://c/v1', { answer: 'from c' });
    const routed = await bench.loop.run([a, b, c], request, signal);
    expect(routed.deployment).toBe(c);
    expect(routed.attempts.map((x) => x.provider)).toEqual(['a', 'b', 'c']);
  });

  it('does not retry when the wait would cross the deadline, and moves on', async () => {
    request = generationRequest({ deadlineAt: bench.clock.t + 5000 });
    bench.adapters.script('http://a/v1', { fail: failure(ErrorClass.RateLimit, 429, 10_000) });
    bench.adapters.script('http://b/v1', { answer: 'from b' });
    const routed = await bench.loop.run([a, b], request, signal);
    expect(bench.sleeps).toEqual([]);
    expect(routed.attempts).toEqual([
      expect.objectContaining({ provider: 'a', ok: false, errorClass: 'rate_limit', status: 429, retries: 0 }),
      expect.objectContaining({ provider: 'b', ok: true }),
    ]);
    expect(bench.events).toContain('fallback deployment a/m rate_limit');
  });

  it('does not wait for a retry that the margin past its cooldown pushes past the deadline: answers at once', async () => {
    // The 429's wait alone leaves the deadline a call (planRetry says retry); the margin past the cooldown it wrote
    // (cooldownRetryMarginMs) does not: a retry that cannot be made is not waited for.
    request = generationRequest({ deadlineAt: bench.clock.t + 10 + 3000 + 500 + cooldownRetryMarginMs(3000) - 1 });
    bench.adapters.script('http://a/v1', { fail: failure(ErrorClass.RateLimit, 429, 3000) });
    const started = bench.clock.t;
    const err = await failureOf(bench.loop.run([a], request, signal));
    expect(bench.sleeps).toEqual([]);
    expect(bench.clock.t - started).toBe(10);
    expect(err.code).toBe(ErrorCode.ProviderRateLimited);
    expect(err.retryAfterMs).toBe(3000);
    expect(err.attempts).toEqual([expect.objectContaining({ provider: 'a', errorClass: 'rate_limit', retries: 0 })]);

    // A millisecond more of deadline and the retry is made, after the wait and its margin (a's cooldown over first).
    bench.clock.advance(3000);
    request = generationRequest({ deadlineAt: bench.clock.t + 10 + 3000 + 500 + cooldownRetryMarginMs(3000) });
    bench.adapters.script('http://a/v1', { fail: failure(ErrorClass.RateLimit, 429, 3000) }, { answer: 'in time' });
    expect((await bench.loop.run([a], request, signal)).answer.text).toBe('in time');
    expect(bench.sleeps).toEqual([3000 + cooldownRetryMarginMs(3000)]);
  });

  it.each([ErrorClass.Auth, ErrorClass.Gateway])('moves on after %s without retrying', async (errorClass) => {
    bench.adapters.script('http://a/v1', { fail: failure(errorClass, 401) });
    bench.adapters.script('http://b/v1', { answer: 'b' });
    const routed = await bench.loop.run([a, b], request, signal);
    expect(routed.deployment).toBe(b);
    expect(bench.sleeps).toEqual([]);
    expect(bench.circuits.settled.map((s) => s.verdict)).toEqual(['failure', 'success']);
  });

  it("moves on from a provider without the model (its 404) at once: no retry, nothing held against the deployment's circuit", async () => {
    // Ollama's answer for a model not pulled, as its adapter classifies it.
    const missing = (): ProviderCallError =>
      classifyHttpFailure(404, {}, '{"error":"model \\"m\\" not found, try pulling it first"}');
    bench.adapters.script('http://a/v1', { fail: missing() });
    bench.adapters.script('http://b/v1', { answer: 'b' });
    const routed = await bench.loop.run([a, b], request, signal);
    expect(routed.deployment).toBe(b);
    expect(bench.adapters.calls.map((call) => call.baseUrl)).toEqual(['http://a/v1', 'http://b/v1']);
    expect(bench.sleeps).toEqual([]);
    expect(bench.circuits.settled.map((s) => s.verdict)).toEqual(['neutral', 'success']);

    // Every deployment tried lacks it: the client is told the model is not found (404 model_not_found, as the
    // provider said and as LiteLLM relays it), not a 502 provider failure.
    bench.adapters.script('http://a/v1', { fail: missing() });
    bench.adapters.script('http://b/v1', { fail: missing() });
    const err = await failureOf(bench.loop.run([a, b], request, signal));
    expect(err.code).toBe(ErrorCode.ModelNotFound);
    expect(err.status).toBe(404);
    expect(err.param).toBe('model');
    expect(err.message).toContain(`'${request.model}'`);
    expect(err.attempts).toEqual([
      expect.objectContaining({ provider: 'a', errorClass: 'not_found', status: 404 }),
      expect.objectContaining({ provider: 'b', errorClass: 'not_found', status: 404 }),
    ]);
    expect(bench.sleeps).toEqual([]);
  });

  it('answers as the others say when one deployment lacks the model: a 429 when the rest were rate limited', async () => {
    // The deployment without the model will never serve the request: it weighs neither way, as an unreached one.
    const missing = (): ProviderCallError => classifyHttpFailure(404, {}, '{"error":{"code":"model_not_found"}}');
    bench.adapters.script('http://a/v1', { fail: missing() });
    bench.adapters.script('http://b/v1', { fail: failure(ErrorClass.RateLimit, 429, 120_000) });
    const limited = await failureOf(bench.loop.run([a, b], request, signal));
    expect(limited.code).toBe(ErrorCode.ProviderRateLimited);

    // Not-found with another failure among the others (a refused key) is still a provider failure (502), not a 404.
    bench.clock.advance(DAY_MS);
    bench.adapters.script('http://a/v1', { fail: missing() });
    bench.adapters.script('http://b/v1', { fail: failure(ErrorClass.Auth, 401) });
    const failed = await failureOf(bench.loop.run([a, b], request, signal));
    expect(failed.code).toBe(ErrorCode.AllProvidersFailed);
  });

  it('fails fast on an invalid request: no retry, no fallback, nothing counted against the provider', async () => {
    bench.adapters.script('http://a/v1', { fail: failure(ErrorClass.InvalidRequest, 400) });
    const err = await failureOf(bench.loop.run([a, b], request, signal));
    expect(err.code).toBe(ErrorCode.InvalidRequest);
    expect(err.attempts).toEqual([expect.objectContaining({ provider: 'a', errorClass: 'invalid_request' })]);
    expect(bench.adapters.calls).toHaveLength(1);
    expect(bench.circuits.settled).toEqual([{ id: 'a/m', verdict: 'neutral', probe: false }]);
  });

  it('moves on when an adapter cannot express the request (never sent), and says so when none can', async () => {
    const untranslatable = (): ProviderCallError =>
      new ProviderCallError(ErrorClass.InvalidRequest, 'Ollama takes images only as data URLs', {
        untranslatable: true,
      });
    bench.adapters.script('http://a/v1', { fail: untranslatable() });
    bench.adapters.script('http://b/v1', { answer: 'from b' });
    const routed = await bench.loop.run([a, b], request, signal);
    expect(routed.deployment).toBe(b);
    expect(bench.circuits.settled.map((s) => s.verdict)).toEqual(['neutral', 'success']);

    bench.adapters.script('http://a/v1', { fail: untranslatable() });
    bench.adapters.script('http://b/v1', { fail: untranslatable() });
    const err = await failureOf(bench.loop.run([a, b], request, signal));
    expect(err.code).toBe(ErrorCode.InvalidRequest);
    expect(err.message).toBe('No deployment can take the request: Ollama takes images only as data URLs');
    expect(err.attempts).toHaveLength(2);
  });

  it('after a context-length failure only tries deployments with a larger window', async () => {
    const small = dep('small', { contextWindow: 8000 });
    const same = dep('same', { contextWindow: 8000 });
    const large = dep('large', { contextWindow: 32_000 });
    bench.adapters.script('http://small/v1', { fail: failure(ErrorClass.ContextLength, 400) });
    bench.adapters.script('http://large/v1', { answer: 'fits' });
    const routed = await bench.loop.run([small, same, large], request, signal);
    expect(routed.deployment).toBe(large);

    bench.adapters.script('http://small/v1', { fail: failure(ErrorClass.ContextLength, 400) });
    const err = await failureOf(bench.loop.run([small, same], request, signal));
    expect(err.code).toBe(ErrorCode.ContextLengthExceeded);
    expect(err.status).toBe(400);
    // OpenAI's own answer names the field to shorten.
    expect(err.param).toBe('messages');
  });

  it('a deferred deployment no larger than one that found the request too long is not waited for nor called again', async () => {
    // small was rate limited (its retry deferred), then large, whose window is larger, found the request too long:
    // small cannot hold it either. Waiting out its 3 s to call it answered a 429 or a second context-length error
    // (or, as a 502, whatever small said the second time) for a request the client must shorten.
    const small = dep('small', { contextWindow: 8000 });
    const large = dep('large', { contextWindow: 32_000 });
    bench.adapters.script('http://small/v1', { fail: failure(ErrorClass.RateLimit, 429, 3000) });
    bench.adapters.script('http://large/v1', { fail: failure(ErrorClass.ContextLength, 400) });
    const err = await failureOf(bench.loop.run([small, large], request, signal));
    expect(err.code).toBe(ErrorCode.ContextLengthExceeded);
    expect(bench.sleeps).toEqual([]);
    expect(err.attempts?.map((x) => x.provider)).toEqual(['small', 'large']);
  });

  it('a too-long request the larger deployments lack the model for is context_length_exceeded, whatever the order', async () => {
    const small = dep('small', { contextWindow: 8000 });
    const large = dep('large', { contextWindow: 32_000 });
    const missing = (): ProviderCallError => classifyHttpFailure(404, {}, '{"error":"model not found"}');
    bench.adapters.script('http://small/v1', { fail: failure(ErrorClass.ContextLength, 400) });
    bench.adapters.script('http://large/v1', { fail: missing() });
    const after = await failureOf(bench.loop.run([small, large], request, signal));
    expect(after.code).toBe(ErrorCode.ContextLengthExceeded);

    bench.adapters.script('http://large/v1', { fail: missing() });
    bench.adapters.script('http://small/v1', { fail: failure(ErrorClass.ContextLength, 400) });
    const before = await failureOf(bench.loop.run([large, small], request, signal));
    expect(before.code).toBe(ErrorCode.ContextLengthExceeded);
  });

  it('answers 502 all_providers_failed with every attempt when all fail, and the shortest Retry-After', async () => {
    bench = new LoopBench({ maxRetries: 1 });
    bench.adapters.script(
      'http://a/v1',
      { fail: failure(ErrorClass.Provider, 503, 4000) },
      { fail: failure(ErrorClass.Provider, 503, 4000) },
    );
    // b's 500 says nothing of a retry's chances (a network failure would weigh neither way: a's 503 would make it
    // all_providers_overloaded, below).
    bench.adapters.script(
      'http://b/v1',
      { fail: failure(ErrorClass.Provider, 500) },
      { fail: failure(ErrorClass.Provider, 500) },
    );
    const err = await failureOf(bench.loop.run([a, b], request, signal));
    expect(err.code).toBe(ErrorCode.AllProvidersFailed);
    expect(err.status).toBe(502);
    expect(err.retryAfterMs).toBe(4000);
    // a's Retry-After is long: b goes first, then a's retry after its wait (one retry in all, as maxRetries says).
    expect(err.attempts).toEqual([
      {
        provider: 'a',
        model: 'm',
        route: 'direct',
        ok: false,
        errorClass: 'provider',
        status: 503,
        message: 'simulated provider',
        latencyMs: 10,
        retries: 0,
      },
      expect.objectContaining({ provider: 'b', ok: false, errorClass: 'provider', status: 500, retries: 1 }),
      expect.objectContaining({ provider: 'a', ok: false, errorClass: 'provider', status: 503, retries: 1 }),
    ]);
    expect(err.message).toBe('All providers failed (a/m: provider 503; b/m: provider 500; a/m: provider 503).');
  });

  it('answers 503 all_providers_overloaded when one provider was out of room and the other unreachable', async () => {
    bench = new LoopBench({ maxRetries: 1 });
    bench.adapters.script(
      'http://a/v1',
      { fail: failure(ErrorClass.Provider, 503, 4000) },
      { fail: failure(ErrorClass.Provider, 503, 4000) },
    );
    bench.adapters.script('http://b/v1', { fail: failure(ErrorClass.Network) }, { fail: failure(ErrorClass.Network) });
    const err = await failureOf(bench.loop.run([a, b], request, signal));
    expect(err.code).toBe(ErrorCode.AllProvidersOverloaded);
    expect(err.status).toBe(503);
    // The unreachable one named no wait, and asked for none: a's is the answer's.
    expect(err.retryAfterMs).toBe(4000);
    expect(err.attempts).toEqual([
      expect.objectContaining({ provider: 'a', errorClass: 'provider', status: 503, retries: 0 }),
      expect.objectContaining({ provider: 'b', errorClass: 'network', retries: 1 }),
      expect.objectContaining({ provider: 'a', errorClass: 'provider', status: 503, retries: 1 }),
    ]);
  });

  describe("a plugin adapter's failure", () => {
    // Plugins are the operator's own code: their errors reach the client (attempts, the 4xx/5xx message, a stream's
    // error event) as the built-in adapters' do, so the key the call sent is kept out of them whatever the plugin wrote.
    const key = 'plug-9f8e7d6c5b4a3f2e1d0c';
    const plugin = dep('plug', {}, { kind: 'plugin', apiKey: key });

    it('keeps the key it sent out of a ProviderCallError the plugin made', async () => {
      bench.adapters.script('http://plug/v1', {
        fail: new ProviderCallError(
          ErrorClass.Auth,
          `upstream 401: key ${key} (${key.slice(0, 6)}...${key.slice(-4)}) refused`,
          {
            status: 401,
          },
        ),
      });
      const err = await failureOf(bench.loop.run([plugin], request, signal));
      const seen = JSON.stringify({ message: err.message, body: err.toBody() });
      expect(seen).not.toContain(key);
      expect(seen).not.toContain(key.slice(-4));
      expect(err.attempts).toEqual([expect.objectContaining({ provider: 'plug', errorClass: 'auth', status: 401 })]);
    });

    it('keeps the key it sent out of a failure that cut its stream', async () => {
      request = generationRequest({ stream: true, deadlineAt: bench.clock.t + 60_000 });
      bench.adapters.script('http://plug/v1', {
        chunks: ['par', 'tial'],
        failAfter: new ProviderCallError(ErrorClass.Provider, `stream reset (api key ${key})`),
      });
      const err = await failureOf(
        bench.loop.run([plugin], request, signal, { onStart: () => undefined, onChunk: () => undefined }),
      );
      expect(err.message).toContain("Provider 'plug' failed in the middle of the stream");
      expect(JSON.stringify({ message: err.message, body: err.toBody() })).not.toContain(key);
    });

    it('keeps the key it sent out of any other error the plugin threw', async () => {
      // Taken for a provider failure (retried twice) by the plugin's classifyError.
      const thrown = new Error(`request with Authorization: ${key} failed`) as ProviderCallError;
      bench.adapters.script('http://plug/v1', { fail: thrown }, { fail: thrown }, { fail: thrown });
      const err = await failureOf(bench.loop.run([plugin], request, signal));
      expect(JSON.stringify({ message: err.message, body: err.toBody() })).not.toContain(key);
    });
  });

  describe('the answer when every call failed, over mixed failures', () => {
    // How undici reports each failure, through the adapters' own classifier.
    const undici = (code: string, message: string): ProviderCallError =>
      classifyError(Object.assign(new Error(message), { code }));
    const refused = (): ProviderCallError => undici('ECONNREFUSED', 'connect ECONNREFUSED');
    const connectTimeout = (): ProviderCallError => undici('UND_ERR_CONNECT_TIMEOUT', 'Connect Timeout Error');
    const readTimeout = (): ProviderCallError => undici('UND_ERR_HEADERS_TIMEOUT', 'Headers Timeout Error');
    const kinds: Record<string, () => ProviderCallError> = {
      refused,
      'connect timeout': connectTimeout,
      'read timeout': readTimeout,
      500: () => failure(ErrorClass.Provider, 500),
      429: () => failure(ErrorClass.RateLimit, 429, 2_000),
      529: () => failure(ErrorClass.Provider, 529, 3_000),
    };
    // [a's failure, b's failure] -> status, Retry-After (s, the header: the time left of the soonest wait named, which
    // the other call's 10 ms shortened when it came first). Each called once (maxRetries 0), in both orders.
    const matrix: [string, string, number, number | undefined][] = [
      ['refused', '529', 503, 3],
      ['connect timeout', '529', 503, 3],
      ['read timeout', '529', 502, 3],
      ['500', '529', 502, 3],
      ['429', '529', 503, 2],
      ['refused', '429', 429, 2],
      ['connect timeout', '429', 429, 2],
      ['read timeout', '429', 502, 2],
      ['connect timeout', 'refused', 502, undefined],
      ['connect timeout', 'read timeout', 502, undefined],
      ['connect timeout', '500', 502, undefined],
      ['read timeout', '500', 502, undefined],
    ];
    it.each(matrix)('%s + %s: %s, Retry-After %s s', async (first, second, status, retryAfterS) => {
      bench = new LoopBench({ maxRetries: 0 });
      for (const order of [
        [first, second],
        [second, first],
      ]) {
        // Fresh circuits and cooldowns for each order.
        bench.clock.advance(TEST_CIRCUIT.openMs);
        request = generationRequest({ deadlineAt: bench.clock.t + 60_000 });
        bench.adapters.script('http://a/v1', { fail: kinds[order[0]]() });
        bench.adapters.script('http://b/v1', { fail: kinds[order[1]]() });
        const err = await failureOf(bench.loop.run([a, b], request, signal));
        const header = err.retryAfterMs === undefined ? undefined : Math.max(1, Math.ceil(err.retryAfterMs / 1000));
        expect([order, err.status, header]).toEqual([order, status, retryAfterS]);
      }
    });

    it('auto: a connect timeout on the direct route and a 529 on the gateway is 503 all_providers_overloaded', async () => {
      bench = new LoopBench({ maxRetries: 0 });
      bench.gateways = [{ id: 'litellm', baseUrl: 'http://gw/v1', apiKey: 'sk-gw', timeoutMs: 1000 }];
      const auto = dep('z', {}, { routing: 'auto', gateway: 'litellm' });
      bench.adapters.script('http://z/v1', { fail: connectTimeout() });
      bench.adapters.script('http://gw/v1', { fail: failure(ErrorClass.Provider, 529) });
      const err = await failureOf(bench.loop.run([auto], request, signal));
      expect(err.code).toBe(ErrorCode.AllProvidersOverloaded);
      expect(err.retryAfterMs).toBe(1_000);
      expect(err.attempts).toEqual([
        expect.objectContaining({ route: 'direct', errorClass: 'timeout' }),
        expect.objectContaining({ route: 'gateway', status: 529 }),
      ]);
    });

    it("the 502 passes on no Retry-After that set nothing aside (a 500's)", async () => {
      bench = new LoopBench({ maxRetries: 0 });
      bench.adapters.script('http://a/v1', { fail: failure(ErrorClass.Provider, 500, 20_000) });
      bench.adapters.script('http://b/v1', { fail: failure(ErrorClass.Provider, 502) });
      const err = await failureOf(bench.loop.run([a, b], request, signal));
      expect(err.code).toBe(ErrorCode.AllProvidersFailed);
      expect(err.retryAfterMs).toBeUndefined();
    });

    it('the 502 passes on no cooldown the deployment was called again after (its latest failure named none)', async () => {
      bench = new LoopBench({ maxRetries: 1 });
      bench.adapters.script(
        'http://a/v1',
        { fail: failure(ErrorClass.Provider, 503, 4000) },
        { fail: failure(ErrorClass.Provider, 500) },
      );
      bench.adapters.script('http://b/v1', { fail: failure(ErrorClass.Auth, 401) });
      const err = await failureOf(bench.loop.run([a, b], request, signal));
      expect(err.code).toBe(ErrorCode.AllProvidersFailed);
      // a was deferred past its 4 s cooldown, then called again: that wait is over.
      expect(err.attempts?.map((x) => `${x.provider} ${x.status}`)).toEqual(['a 503', 'b 401', 'a 500']);
      expect(err.retryAfterMs).toBeUndefined();
    });

    it('tells the time left of a cooldown, not the wait named when it began', async () => {
      bench = new LoopBench({ maxRetries: 0 });
      request = generationRequest({ deadlineAt: bench.clock.t + 5_000 });
      // a's 429 at 10 ms asks for 5 s; b takes 3 s to answer a 500: 2 s of a's wait are left.
      bench.adapters.script('http://a/v1', { fail: failure(ErrorClass.RateLimit, 429, 5_000) });
      bench.adapters.script('http://b/v1', { fail: failure(ErrorClass.Provider, 500), ms: 3_000 });
      const err = await failureOf(bench.loop.run([a, b], request, signal));
      expect(err.code).toBe(ErrorCode.AllProvidersFailed);
      expect(err.retryAfterMs).toBe(2_000);
    });
  });

  it('asks the client for a second, not the longer wait another named, when a provider out of room named none', async () => {
    bench = new LoopBench({ maxRetries: 0 });
    bench.adapters.script('http://a/v1', { fail: failure(ErrorClass.Provider, 529, 30_000) });
    bench.adapters.script('http://b/v1', { fail: failure(ErrorClass.Provider, 529) });
    const err = await failureOf(bench.loop.run([a, b], request, signal));
    expect(err.code).toBe(ErrorCode.AllProvidersOverloaded);
    expect(err.retryAfterMs).toBe(1_000);
    // a's 529 named a wait: a is set aside for it (a cooldown, at most openMs), past here.
    bench.clock.advance(TEST_CIRCUIT.openMs);

    // Rate limits the same way: the 429 names no wait then (the SDKs' own short backoff), not a's 30 s.
    bench.adapters.script('http://a/v1', { fail: failure(ErrorClass.RateLimit, 429, 30_000) });
    bench.adapters.script('http://b/v1', { fail: failure(ErrorClass.RateLimit, 429) });
    const limited = await failureOf(bench.loop.run([a, b], request, signal));
    expect(limited.code).toBe(ErrorCode.ProviderRateLimited);
    expect(limited.retryAfterMs).toBeUndefined();
  });

  it('answers 503 all_providers_overloaded when every provider said it has no room, an overloaded event included', async () => {
    bench = new LoopBench({ maxRetries: 0 });
    // Claude's overloaded_error as the first event of a stream (a 200, no status), then a 529 from the other.
    const event = new ProviderCallError(ErrorClass.Provider, 'upstream error: Overloaded', { overloaded: true });
    bench.adapters.script('http://a/v1', { fail: event });
    bench.adapters.script('http://b/v1', { fail: failure(ErrorClass.Provider, 529) });
    const err = await failureOf(bench.loop.run([a, b], request, signal));
    expect(err.code).toBe(ErrorCode.AllProvidersOverloaded);
    expect(err.status).toBe(503);
    expect(err.retryAfterMs).toBe(1_000);
    expect(err.attempts).toEqual([
      expect.objectContaining({ provider: 'a', errorClass: 'provider', overloaded: true }),
      expect.objectContaining({ provider: 'b', errorClass: 'provider', status: 529 }),
    ]);
    expect(err.attempts?.[0]).not.toHaveProperty('status');
    expect(err.attempts?.[1]).not.toHaveProperty('overloaded');
  });

  it('tries at most maxAttempts deployments', async () => {
    bench = new LoopBench({ maxAttempts: 2, maxRetries: 0 });
    bench.adapters.script('http://a/v1', { fail: failure(ErrorClass.Auth, 401) });
    bench.adapters.script('http://b/v1', { fail: failure(ErrorClass.Auth, 403) });
    const err = await failureOf(bench.loop.run([a, b, c], request, signal));
    expect(err.attempts?.map((x) => x.provider)).toEqual(['a', 'b']);
  });

  it('does not count a deployment without the model (its 404) against maxAttempts: the next one is tried', async () => {
    // Local servers that have not pulled the model sort first (they cost nothing): they must not use up the budget
    // of the deployments that do serve it.
    bench = new LoopBench({ maxAttempts: 2, maxRetries: 0 });
    const missing = (): ProviderCallError => classifyHttpFailure(404, {}, '{"error":"model not found"}');
    bench.adapters.script('http://a/v1', { fail: missing() });
    bench.adapters.script('http://b/v1', { fail: missing() });
    bench.adapters.script('http://c/v1', { answer: 'from c' });
    const routed = await bench.loop.run([a, b, c], request, signal);
    expect(routed.deployment).toBe(c);
    expect(routed.attempts.map((x) => x.provider)).toEqual(['a', 'b', 'c']);
  });

  describe('with the circuit breaker', () => {
    it('stops retrying a deployment whose circuit opened, and moves on', async () => {
      bench = new LoopBench({ maxRetries: 5, circuit: { failureThreshold: 2 } });
      bench.adapters.script(
        'http://a/v1',
        { fail: failure(ErrorClass.Provider, 500) },
        { fail: failure(ErrorClass.Provider, 500) },
      );
      bench.adapters.script('http://b/v1', { answer: 'b' });
      const routed = await bench.loop.run([a, b], request, signal);
      expect(bench.circuits.state('a/m')).toBe('open');
      expect(routed.attempts).toEqual([
        expect.objectContaining({ provider: 'a', ok: false, retries: 1 }),
        expect.objectContaining({ provider: 'b', ok: true }),
      ]);
      // One backoff, between a's two calls: none after the failure that opened its circuit.
      expect(bench.sleeps).toHaveLength(1);
    });

    it('does not wait out a Retry-After for a retry the circuit its failure opened would refuse', async () => {
      bench = new LoopBench({ maxRetries: 5, circuit: { failureThreshold: 2 } });
      // A 500 that names a wait counts against the circuit (a 429, 503 or 529 would set the deployment aside
      // instead, without counting: test/routing-e2e/cooldown.test.ts).
      bench.adapters.script(
        'http://a/v1',
        { fail: failure(ErrorClass.Provider, 500, 5_000) },
        { fail: failure(ErrorClass.Provider, 500, 5_000) },
      );
      const started = bench.clock.t;
      const err = await failureOf(bench.loop.run([a], request, signal));
      expect(err.code).toBe(ErrorCode.AllProvidersFailed);
      expect(err.attempts).toEqual([expect.objectContaining({ provider: 'a', ok: false, retries: 1 })]);
      expect(bench.sleeps).toEqual([5_000]);
      expect(bench.clock.t - started).toBeLessThan(6_000);
    });

    it('does not wait out a 500 whose Retry-After is longer than a cooldown may hold (CB_OPEN_MS)', async () => {
      bench = new LoopBench({ maxRetries: 5 });
      bench.adapters.script('http://a/v1', { fail: failure(ErrorClass.Provider, 500, 20_000) });
      const err = await failureOf(bench.loop.run([a], request, signal));
      expect(err.code).toBe(ErrorCode.AllProvidersFailed);
      expect(err.attempts).toEqual([expect.objectContaining({ provider: 'a', ok: false, retries: 0 })]);
      expect(bench.sleeps).toEqual([]);
    });

    it('sets a deployment aside for the wait a 429 named instead of counting it, and calls it again after', async () => {
      bench = new LoopBench({ maxRetries: 5, circuit: { failureThreshold: 2 } });
      bench.adapters.script(
        'http://a/v1',
        { fail: failure(ErrorClass.RateLimit, 429, 2_000) },
        { fail: failure(ErrorClass.RateLimit, 429, 2_000) },
        { fail: failure(ErrorClass.RateLimit, 429, 2_000) },
        { answer: 'ok' },
      );
      const routed = await bench.loop.run([a], request, signal);
      expect(routed.answer.text).toBe('ok');
      // Three 429s past a threshold of 2, and the circuit never opened: each retry came after the wait it named.
      expect(bench.circuits.state('a/m')).toBe('closed');
      const wait = 2_000 + cooldownRetryMarginMs(2_000);
      expect(bench.sleeps).toEqual([wait, wait, wait]);
      expect(bench.circuits.settled.map((s) => s.verdict)).toEqual(['cooldown', 'cooldown', 'cooldown', 'success']);
    });

    it("retries after a 429's wait though the store's clock advanced a ms less than the sleep: not refused by its own cooldown", async () => {
      // The Redis store times the cooldown by the Redis clock; the sleep is a Node timer, which fires up to 1 ms early
      // (and Redis floors TIME to the ms): by the store's clock the retry came 1 ms before the cooldown's end.
      bench.onSleep = () => {
        bench.circuits.storeSkewMs -= 1;
      };
      bench.adapters.script('http://a/v1', { fail: failure(ErrorClass.RateLimit, 429, 2_000) }, { answer: 'ok' });
      const routed = await bench.loop.run([a], request, signal);
      expect(routed.answer.text).toBe('ok');
      expect(bench.circuits.settled.map((s) => s.verdict)).toEqual(['cooldown', 'success']);
      // The wait named, and the margin past it (cooldownRetryMarginMs).
      expect(bench.sleeps).toEqual([2_000 + cooldownRetryMarginMs(2_000)]);
    });

    it("a deferred deployment's retry after its cooldown is admitted too, with the store's clock a ms behind", async () => {
      bench.onSleep = () => {
        bench.circuits.storeSkewMs -= 1;
      };
      bench.adapters.script('http://a/v1', { fail: failure(ErrorClass.RateLimit, 429, 3000) }, { answer: 'a at last' });
      bench.adapters.script('http://b/v1', { fail: failure(ErrorClass.Auth, 401) });
      const routed = await bench.loop.run([a, b], request, signal);
      expect(routed.answer.text).toBe('a at last');
      // 3000 ms (and the margin) after a's failure, less the 10 ms b's call took.
      expect(bench.sleeps).toEqual([3000 + cooldownRetryMarginMs(3000) - 10]);
    });

    it('does not wait out a Retry-After longer than CB_OPEN_MS, however far the deadline: answers with the wait held', async () => {
      // An async job's deadline is a day away (ASYNC_JOB_RETENTION_S): a daily quota's 429 asking for an hour fitted
      // it, and the job slept the hour (once per retry) holding a worker slot. CB_OPEN_MS is 10 s here.
      request = generationRequest({ deadlineAt: bench.clock.t + DAY_MS });
      bench.adapters.script('http://a/v1', { fail: failure(ErrorClass.RateLimit, 429, 3_600_000) });
      const err = await failureOf(bench.loop.run([a], request, signal));
      expect(err.code).toBe(ErrorCode.ProviderRateLimited);
      // The cooldown in force, as every answer during it says (cooldownHeldMs).
      expect(err.retryAfterMs).toBe(TEST_CIRCUIT.openMs);
      expect(bench.sleeps).toEqual([]);
      expect(err.attempts).toEqual([expect.objectContaining({ provider: 'a', ok: false, retries: 0 })]);
    });

    it('moves on from a Retry-After longer than CB_OPEN_MS and does not come back to it', async () => {
      request = generationRequest({ deadlineAt: bench.clock.t + DAY_MS });
      bench.adapters.script('http://a/v1', { fail: failure(ErrorClass.RateLimit, 429, 3_600_000) });
      bench.adapters.script('http://b/v1', { fail: failure(ErrorClass.Auth, 401) });
      const err = await failureOf(bench.loop.run([a, b], request, signal));
      expect(err.code).toBe(ErrorCode.AllProvidersFailed);
      expect(bench.sleeps).toEqual([]);
      expect(err.attempts).toHaveLength(2);
    });

    it('still waits out a Retry-After of exactly CB_OPEN_MS', async () => {
      request = generationRequest({ deadlineAt: bench.clock.t + DAY_MS });
      bench.adapters.script(
        'http://a/v1',
        { fail: failure(ErrorClass.RateLimit, 429, TEST_CIRCUIT.openMs) },
        { answer: 'ok' },
      );
      const routed = await bench.loop.run([a], request, signal);
      expect(routed.answer.text).toBe('ok');
      expect(bench.sleeps).toEqual([TEST_CIRCUIT.openMs + cooldownRetryMarginMs(TEST_CIRCUIT.openMs)]);
    });

    it('admits the first call to a circuit the plan read closed without asking again; retries ask', async () => {
      bench.adapters.script('http://a/v1', { fail: failure(ErrorClass.Provider, 503) }, { answer: 'ok' });
      const routed = await bench.loop.run([a, b], request, signal, undefined, new Set(['a/m']));
      expect(routed.answer.text).toBe('ok');
      expect(bench.circuits.acquired).toEqual(['a/m']);
      bench.adapters.script('http://b/v1', { answer: 'b' });
      await bench.loop.run([b], request, signal);
      expect(bench.circuits.acquired).toEqual(['a/m', 'b/m']);
    });

    it("asks again before falling back to a deployment the plan read closed: others' failures may have opened it since", async () => {
      bench = new LoopBench({ maxRetries: 0, circuit: { failureThreshold: 1 } });
      // b's circuit opens (another worker's calls, say) after the plan read it closed, while a's call runs.
      bench.adapters.script('http://b/v1', { fail: failure(ErrorClass.Provider, 500) });
      await failureOf(bench.loop.run([b], request, signal));
      bench.circuits.acquired.length = 0;
      bench.adapters.script('http://a/v1', { fail: failure(ErrorClass.Provider, 500) });
      bench.adapters.script('http://c/v1', { answer: 'c' });
      const routed = await bench.loop.run([a, b, c], request, signal, undefined, new Set(['a/m', 'b/m', 'c/m']));
      expect(routed.deployment).toBe(c);
      expect(routed.attempts).toEqual([
        expect.objectContaining({ provider: 'a', ok: false }),
        expect.objectContaining({ provider: 'c', ok: true }),
      ]);
      // a's call came right after the plan's read; each fallback asked its circuit.
      expect(bench.circuits.acquired).toEqual(['b/m', 'c/m']);
    });

    it('skips a refused deployment without counting it as an attempt', async () => {
      bench = new LoopBench({ maxAttempts: 1, maxRetries: 0, circuit: { failureThreshold: 1 } });
      bench.adapters.script('http://a/v1', { fail: failure(ErrorClass.Provider, 500) });
      await failureOf(bench.loop.run([a], request, signal));
      bench.adapters.script('http://b/v1', { answer: 'b' });
      const routed = await bench.loop.run([a, b], request, signal);
      expect(routed.attempts).toEqual([expect.objectContaining({ provider: 'b', ok: true })]);
    });

    it('a deployment without the model beside one its circuit refused is no 404: the model is served, not now', async () => {
      // b serves the model but its circuit is open; a (a local server that has not pulled it) answered 404. "The model
      // does not exist" told the client not to retry a model a deployment serves once its circuit lets it.
      bench = new LoopBench({ maxRetries: 0, circuit: { failureThreshold: 1 } });
      bench.adapters.script('http://b/v1', { fail: failure(ErrorClass.Provider, 500) });
      await failureOf(bench.loop.run([b], request, signal));
      bench.adapters.script('http://a/v1', { fail: classifyHttpFailure(404, {}, '{"error":"model not found"}') });
      const err = await failureOf(bench.loop.run([a, b], request, signal));
      expect(err.code).toBe(ErrorCode.NoHealthyProvider);
      expect(err.status).toBe(503);
      expect(err.retryAfterMs).toBe(10_000 - 10);
      expect(err.attempts?.map((x) => [x.provider, x.errorClass])).toEqual([['a', 'not_found']]);
    });

    it('nor beside deployments the plan left out for their circuits: their answer is given, with the attempts', async () => {
      bench.adapters.script('http://a/v1', { fail: classifyHttpFailure(404, {}, '{"error":"model not found"}') });
      const heldBack = (attempts: Attempt[]): GatewayError =>
        new GatewayError(ErrorCode.ProviderRateLimited, 'rate limited', { retryAfterMs: 2000, attempts });
      const err = await failureOf(bench.loop.run([a], request, signal, undefined, undefined, undefined, heldBack));
      expect(err).toMatchObject({ code: ErrorCode.ProviderRateLimited, retryAfterMs: 2000 });
      expect(err.attempts?.map((x) => x.provider)).toEqual(['a']);

      // Without any held back, a 404 everywhere is the client's model_not_found.
      bench.adapters.script('http://a/v1', { fail: classifyHttpFailure(404, {}, '{"error":"model not found"}') });
      expect((await failureOf(bench.loop.run([a], request, signal))).code).toBe(ErrorCode.ModelNotFound);
    });

    it('counts one fallback per failed deployment, refused ones in between included', async () => {
      bench = new LoopBench({ maxRetries: 0, circuit: { failureThreshold: 1 } });
      bench.adapters.script('http://b/v1', { fail: failure(ErrorClass.Provider, 500) });
      await failureOf(bench.loop.run([b], request, signal));
      bench.events.length = 0;
      bench.adapters.script('http://a/v1', { fail: failure(ErrorClass.Auth, 401) });
      bench.adapters.script('http://c/v1', { answer: 'c' });
      const routed = await bench.loop.run([a, b, c], request, signal);
      expect(routed.deployment).toBe(c);
      expect(bench.events.filter((e) => e.startsWith('fallback'))).toEqual(['fallback deployment a/m auth']);
    });

    it('answers 503 no_healthy_provider with the time to half-open when every candidate refuses', async () => {
      bench = new LoopBench({ maxRetries: 0, circuit: { failureThreshold: 1 } });
      bench.adapters.script('http://a/v1', { fail: failure(ErrorClass.Provider, 500) });
      bench.adapters.script('http://b/v1', { fail: failure(ErrorClass.Provider, 500) });
      await failureOf(bench.loop.run([a, b], request, signal));
      bench.clock.advance(4000);
      const err = await failureOf(bench.loop.run([a, b], request, signal));
      expect(err.code).toBe(ErrorCode.NoHealthyProvider);
      expect(err.status).toBe(503);
      // b opened 10 ms after a: a half-opens first.
      expect(err.retryAfterMs).toBe(10_000 - 4000 - 10);
    });

    it('a half-open probe that succeeds closes the circuit; a client error only frees the probe slot', async () => {
      bench = new LoopBench({ maxRetries: 0, circuit: { failureThreshold: 1 } });
      bench.adapters.script('http://a/v1', { fail: failure(ErrorClass.Provider, 500) });
      await failureOf(bench.loop.run([a], request, signal));
      bench.clock.advance(10_000);
      request = generationRequest({ deadlineAt: bench.clock.t + 60_000 });
      bench.adapters.script('http://a/v1', { fail: failure(ErrorClass.InvalidRequest, 400) });
      await failureOf(bench.loop.run([a], request, signal));
      expect(bench.circuits.state('a/m')).toBe('half_open');
      expect(bench.circuits.settled.at(-1)).toEqual({ id: 'a/m', verdict: 'neutral', probe: true });
      bench.adapters.script('http://a/v1', { answer: 'back' });
      await bench.loop.run([a], request, signal);
      expect(bench.circuits.state('a/m')).toBe('closed');
    });

    it("a half-open probe answered not_found frees its slot and decides nothing: the next request probes, and the fallback's answer serves", async () => {
      bench = new LoopBench({ maxRetries: 0, circuit: { failureThreshold: 1 } });
      bench.adapters.script('http://a/v1', { fail: failure(ErrorClass.Provider, 500) });
      await failureOf(bench.loop.run([a], request, signal));
      bench.clock.advance(10_000);
      request = generationRequest({ deadlineAt: bench.clock.t + 60_000 });
      bench.adapters.script('http://a/v1', { fail: classifyHttpFailure(404, {}, '{"error":"model not found"}') });
      bench.adapters.script('http://b/v1', { answer: 'from b' });
      expect((await bench.loop.run([a, b], request, signal)).deployment).toBe(b);
      expect(bench.circuits.settled.slice(-2)).toEqual([
        { id: 'a/m', verdict: 'neutral', probe: true },
        { id: 'b/m', verdict: 'success', probe: false },
      ]);
      // Neither closed by the 404 nor left with its only probe slot taken.
      expect(bench.circuits.state('a/m')).toBe('half_open');
      bench.adapters.script('http://a/v1', { answer: 'pulled now' });
      await bench.loop.run([a], request, signal);
      expect(bench.circuits.state('a/m')).toBe('closed');
    });
  });

  describe('a deployment an admin deleted or disabled meanwhile', () => {
    it('is not retried once withdrawn: the request moves on to the next candidate', async () => {
      bench.adapters.script('http://a/v1', { fail: failure(ErrorClass.Provider, 503) });
      bench.adapters.script('http://b/v1', { answer: 'from b' });
      // The reload lands while the loop waits to retry a.
      bench.onSleep = () => bench.withdrawn.add(a.id);
      const routed = await bench.loop.run([a, b], request, signal);
      expect(routed.deployment).toBe(b);
      expect(bench.adapters.calls.map((c) => c.baseUrl)).toEqual(['http://a/v1', 'http://b/v1']);
      expect(routed.attempts).toEqual([
        expect.objectContaining({ provider: 'a', ok: false, errorClass: 'provider', retries: 0 }),
        expect.objectContaining({ provider: 'b', ok: true }),
      ]);
    });

    it('a later candidate withdrawn before its turn is skipped; none left answers the last failure', async () => {
      bench = new LoopBench({ maxRetries: 0 });
      bench.adapters.script('http://a/v1', { fail: failure(ErrorClass.Provider, 500) });
      bench.withdrawn.add(b.id);
      const err = await failureOf(bench.loop.run([a, b], request, signal));
      expect(err.code).toBe(ErrorCode.AllProvidersFailed);
      expect(bench.circuits.acquired).not.toContain('b/m');
    });

    it('one changed meanwhile (key rotated, URL corrected) is retried as it is now, not as planned', async () => {
      bench.adapters.script('http://a/v1', { fail: failure(ErrorClass.Provider, 503) });
      bench.adapters.script('http://a-fixed/v1', { answer: 'from the corrected a' });
      const fixed = dep('a', {}, { baseUrl: 'http://a-fixed/v1', apiKey: 'sk-rotated' });
      // The reload lands while the loop waits to retry a.
      bench.onSleep = () => bench.replaced.set(a.id, fixed);
      const routed = await bench.loop.run([a], request, signal);
      expect(routed.deployment).toBe(fixed);
      expect(bench.adapters.calls.map((c) => [c.baseUrl, c.apiKey])).toEqual([
        ['http://a/v1', a.provider.apiKey],
        ['http://a-fixed/v1', 'sk-rotated'],
      ]);
    });

    it('a deferred deployment is neither waited for nor called again once withdrawn', async () => {
      bench.adapters.script('http://a/v1', { fail: failure(ErrorClass.RateLimit, 429, 9000) });
      const busy = { fail: failure(ErrorClass.Provider, 503) };
      bench.adapters.script('http://b/v1', busy, busy, busy);
      // The reload lands while b is retried, after a was called and deferred.
      bench.onSleep = () => bench.withdrawn.add(a.id);
      const err = await failureOf(bench.loop.run([a, b], request, signal));
      // A rate limit and 503s: no provider had room.
      expect(err.code).toBe(ErrorCode.AllProvidersOverloaded);
      // b's backoffs only: no wait for a's Retry-After.
      expect(bench.sleeps).toEqual([50, 100]);
      expect(bench.adapters.calls.map((c) => c.baseUrl)).toEqual([
        'http://a/v1',
        'http://b/v1',
        'http://b/v1',
        'http://b/v1',
      ]);
    });
  });

  describe('routes', () => {
    const litellm = { id: 'litellm', baseUrl: 'http://gw/v1', apiKey: 'sk-gw', timeoutMs: 1000 };
    const auto = dep('z', { upstreamName: 'glm-4.6' }, { routing: 'auto', gateway: 'litellm', kind: 'anthropic' });

    beforeEach(() => {
      bench.gateways = [litellm];
    });

    it('auto: a network failure on the direct route switches to the gateway at once, and remembers it', async () => {
      bench.adapters.script('http://z/v1', { fail: failure(ErrorClass.Network) });
      bench.adapters.script('http://gw/v1', { answer: 'via gateway' });
      const routed = await bench.loop.run([auto], request, signal);
      expect(routed.route).toBe('gateway');
      expect(bench.sleeps).toEqual([]);
      expect(bench.adapters.calls).toEqual([
        expect.objectContaining({ baseUrl: 'http://z/v1', kind: 'anthropic' }),
        { baseUrl: 'http://gw/v1', model: 'glm-4.6', apiKey: 'sk-gw', kind: 'openai', stream: false },
      ]);
      expect(routed.attempts).toEqual([
        expect.objectContaining({ provider: 'z', route: 'direct', ok: false, errorClass: 'network' }),
        expect.objectContaining({ provider: 'z', route: 'gateway', ok: true }),
      ]);
      expect(bench.remembered.get('z')).toBe('gateway');
      expect(bench.events).toContain('fallback route z/m network');
    });

    it("auto: a route whose server lacks the model (the proxy's model list) switches to the other route at once", async () => {
      bench.remembered.set('z', 'gateway');
      bench.adapters.script('http://gw/v1', {
        fail: classifyHttpFailure(400, {}, '{"error":{"message":"Invalid model name passed in model=glm-4.6"}}'),
      });
      bench.adapters.script('http://z/v1', { answer: 'direct' });
      const routed = await bench.loop.run([auto], request, signal);
      expect(routed.route).toBe('direct');
      expect(bench.sleeps).toEqual([]);
      expect(routed.attempts).toEqual([
        expect.objectContaining({ provider: 'z', route: 'gateway', ok: false, errorClass: 'not_found' }),
        expect.objectContaining({ provider: 'z', route: 'direct', ok: true }),
      ]);
      expect(bench.remembered.get('z')).toBe('direct');
      expect(bench.events).toContain('fallback route z/m not_found');
    });

    it("shows each response to the quota observer of the call's provider and route", async () => {
      bench.adapters.script(
        'http://z/v1',
        { fail: failure(ErrorClass.RateLimit, 429, 10) },
        { fail: failure(ErrorClass.Network) },
      );
      bench.adapters.script('http://gw/v1', { answer: 'via gateway' });
      await bench.loop.run([auto], request, signal);
      // The network failure had no response to show.
      expect(bench.observed).toEqual(['z direct 429', 'z gateway 200']);
    });

    it('auto: the remembered route goes first', async () => {
      bench.remembered.set('z', 'gateway');
      bench.adapters.script('http://gw/v1', { answer: 'via gateway' });
      const routed = await bench.loop.run([auto], request, signal);
      expect(routed.attempts).toEqual([expect.objectContaining({ route: 'gateway', ok: true })]);
    });

    it('auto: a connect timeout on the direct route (a host dropping connections) switches to the gateway', async () => {
      const connectTimeout = new ProviderCallError(ErrorClass.Timeout, 'upstream timed out (UND_ERR_CONNECT_TIMEOUT)', {
        cause: Object.assign(new Error('Connect Timeout Error'), { code: 'UND_ERR_CONNECT_TIMEOUT' }),
      });
      bench.adapters.script('http://z/v1', { fail: connectTimeout, ms: 10_000 });
      bench.adapters.script('http://gw/v1', { answer: 'via gateway' });
      const routed = await bench.loop.run([auto], request, signal);
      expect(routed.route).toBe('gateway');
      expect(bench.sleeps).toEqual([]);
      expect(routed.attempts).toEqual([
        expect.objectContaining({ provider: 'z', route: 'direct', ok: false, errorClass: 'timeout' }),
        expect.objectContaining({ provider: 'z', route: 'gateway', ok: true }),
      ]);
      expect(bench.remembered.get('z')).toBe('gateway');
    });

    it('auto: a non-network failure is retried on the same route', async () => {
      bench.adapters.script('http://z/v1', { fail: failure(ErrorClass.Provider, 502) }, { answer: 'direct again' });
      const routed = await bench.loop.run([auto], request, signal);
      expect(routed.route).toBe('direct');
      expect(bench.remembered.size).toBe(0);
    });

    it('a gateway provider whose gateway is missing fails its attempt and moves on', async () => {
      bench.gateways = [];
      const gw = dep('g', {}, { routing: 'gateway', gateway: 'litellm' });
      bench.adapters.script('http://b/v1', { answer: 'b' });
      const routed = await bench.loop.run([gw, b], request, signal);
      expect(routed.attempts).toEqual([
        expect.objectContaining({ provider: 'g', route: 'gateway', ok: false, errorClass: 'gateway' }),
        expect.objectContaining({ provider: 'b', ok: true }),
      ]);
    });
  });

  describe('streams', () => {
    function recorder(): StreamObserver & { seen: string[] } {
      const seen: string[] = [];
      return {
        seen,
        onStart: (h) => void seen.push(`start ${h.provider}`),
        onChunk: (delta) => void seen.push(delta.text),
      };
    }

    beforeEach(() => {
      request = generationRequest({ stream: true, deadlineAt: bench.clock.t + 60_000 });
    });

    it('falls back freely before the first chunk', async () => {
      bench.adapters.script(
        'http://a/v1',
        { fail: failure(ErrorClass.Network) },
        { fail: failure(ErrorClass.Network) },
        { fail: failure(ErrorClass.Network) },
      );
      bench.adapters.script('http://b/v1', { chunks: ['Hel', 'lo'] });
      const observer = recorder();
      const routed = await bench.loop.run([a, b], request, signal, observer);
      expect(routed.answer.text).toBe('Hello');
      expect(observer.seen).toEqual(['start b', 'Hel', 'lo', '']);
      // Time to the first chunk: the fake provider takes 10 ms to start answering.
      expect(bench.latencies).toEqual([{ id: 'b/m', stream: true, ms: 10 }]);
    });

    it('after the first chunk, a failure ends the stream with an error: no retry, no fallback', async () => {
      bench.adapters.script('http://a/v1', { chunks: ['par', 'tial'], failAfter: failure(ErrorClass.Network) });
      const observer = recorder();
      const err = await failureOf(bench.loop.run([a, b], request, signal, observer));
      expect(err.code).toBe(ErrorCode.ProviderError);
      expect(err.message).toContain("Provider 'a' failed in the middle of the stream");
      expect(err.attempts).toEqual([expect.objectContaining({ provider: 'a', ok: false, errorClass: 'network' })]);
      expect(observer.seen).toEqual(['start a', 'par', 'tial']);
      expect(bench.circuits.settled).toEqual([{ id: 'a/m', verdict: 'failure', probe: false }]);
      // What reached the client was generated: the failure carries its bill (counted, as the provider reported none).
      expect(err.spent).toMatchObject({ provider: 'a', model: 'm' });
      expect(err.spent?.usage.promptTokens).toBeGreaterThan(0);
      expect(err.spent?.usage.completionTokens).toBeGreaterThan(0);
    });

    it("a half-open circuit's streamed probe closes it at its first chunk; a cut after that counts against it", async () => {
      bench = new LoopBench({ maxRetries: 0, circuit: { failureThreshold: 2 } });
      bench.adapters.script(
        'http://a/v1',
        { fail: failure(ErrorClass.Provider, 500) },
        { fail: failure(ErrorClass.Provider, 500) },
      );
      request = generationRequest({ stream: true, deadlineAt: bench.clock.t + 60_000 });
      await failureOf(bench.loop.run([a], request, signal, recorder()));
      await failureOf(bench.loop.run([a], request, signal, recorder()));
      expect(bench.circuits.state('a/m')).toBe('open');
      bench.clock.advance(10_000);
      request = generationRequest({ stream: true, deadlineAt: bench.clock.t + 60_000 });
      let stateAtFirstChunk = '';
      const observer: StreamObserver = {
        onStart: () => undefined,
        // The second chunk comes after the first went out (and its success was written).
        onChunk: (delta) => {
          if (delta.text === 'tial') {
            stateAtFirstChunk = bench.circuits.state('a/m');
          }
        },
      };
      bench.adapters.script('http://a/v1', { chunks: ['par', 'tial'], failAfter: failure(ErrorClass.Network) });
      await failureOf(bench.loop.run([a], request, signal, observer));
      // Closed while the answer still streamed: other calls were admitted from then on, not refused for its length.
      expect(stateAtFirstChunk).toBe('closed');
      // The probe's success, then the cut as a failure of the closed circuit (in that order): one failure counted.
      expect(bench.circuits.settled.slice(-2)).toEqual([
        { id: 'a/m', verdict: 'success', probe: true },
        { id: 'a/m', verdict: 'failure', probe: false },
      ]);
      expect(bench.circuits.state('a/m')).toBe('closed');
    });

    it("a half-open circuit's streamed probe that ends well counts one success, settled at its first chunk", async () => {
      bench = new LoopBench({ maxRetries: 0, circuit: { failureThreshold: 1 } });
      bench.adapters.script('http://a/v1', { fail: failure(ErrorClass.Provider, 500) });
      await failureOf(bench.loop.run([a], request, signal, recorder()));
      expect(bench.circuits.state('a/m')).toBe('open');
      bench.clock.advance(10_000);
      request = generationRequest({ stream: true, deadlineAt: bench.clock.t + 60_000 });
      bench.circuits.settled.length = 0;
      bench.adapters.script('http://a/v1', { chunks: ['all', ' of it'] });
      const routed = await bench.loop.run([a], request, signal, recorder());
      expect(routed.answer.text).toBe('all of it');
      expect(bench.circuits.state('a/m')).toBe('closed');
      // The probe's success closed the circuit; the stream's end adds no second (plain) success to its window.
      expect(bench.circuits.settled).toEqual([{ id: 'a/m', verdict: 'success', probe: true }]);
    });

    it("bills a cut stream's prompt with the plan's estimate, not a count of its own", async () => {
      bench.adapters.script('http://a/v1', { chunks: ['par', 'tial'], failAfter: failure(ErrorClass.Network) });
      const err = await failureOf(bench.loop.run([a, b], request, signal, recorder(), undefined, 4321));
      expect(err.spent?.usage.promptTokens).toBe(4321);
    });

    it('a failure before the first chunk costs nothing', async () => {
      bench.adapters.script('http://a/v1', { fail: failure(ErrorClass.InvalidRequest, 400) });
      const err = await failureOf(bench.loop.run([a, b], request, signal, recorder()));
      expect(err.spent).toBeUndefined();
    });
  });

  describe('cancellation', () => {
    it('stops at the deadline while waiting to retry, answering timeout with the attempts so far', async () => {
      const controller = new AbortController();
      bench.abortAt = { at: bench.clock.t, controller, reason: new GenerationAbort('deadline') };
      bench.adapters.script('http://a/v1', { fail: failure(ErrorClass.Provider, 503) });
      const err = await failureOf(bench.loop.run([a, b], request, controller.signal));
      expect(err).toBeInstanceOf(GenerationCancelledError);
      expect(err.code).toBe(ErrorCode.Timeout);
      expect(err.attempts).toEqual([expect.objectContaining({ provider: 'a', errorClass: 'provider', retries: 0 })]);
    });

    /**
     * A call that failed with no answer (no status: no response headers) when the signal aborted `ms` into it; its
     * request was written to the provider `sentAfterMs` into it (before: it waited for a connection of its pool).
     */
    function cutAfter(
      ms: number,
      cause: 'deadline' | 'client_disconnected',
      status?: number,
      sentAfterMs: number | null = 0,
    ): AbortSignal {
      const controller = new AbortController();
      bench.adapters.script('http://a/v1', {
        fail: failure(ErrorClass.Cancelled, status),
        ms,
        sentAfterMs,
        during: () => controller.abort(new GenerationAbort(cause)),
      });
      return controller.signal;
    }

    it("counts a deadline cut of a call that had no answer for its route's timeout as the provider's timeout", async () => {
      // The deployment's timeoutMs is 5 s, the request's budget 60 s: the shorter one is the mark.
      const err = await failureOf(bench.loop.run([a, b], request, cutAfter(5_000, 'deadline')));
      expect(err).toMatchObject({ code: ErrorCode.Timeout, abortCause: 'deadline' });
      expect(bench.circuits.settled).toEqual([{ id: 'a/m', verdict: 'failure', probe: false }]);
      expect(bench.events).toEqual(['call a/m timeout']);
    });

    it('counts a deadline cut of a call that began a moment before it for nothing', async () => {
      await failureOf(bench.loop.run([a, b], request, cutAfter(4_999, 'deadline')));
      expect(bench.circuits.settled).toEqual([{ id: 'a/m', verdict: 'neutral', probe: false }]);
      expect(bench.events).toEqual(['call a/m cancelled']);
    });

    it('counts a deadline cut of a call whose provider had answered (its headers came) for nothing', async () => {
      await failureOf(bench.loop.run([a, b], request, cutAfter(30_000, 'deadline', 200)));
      expect(bench.circuits.settled).toEqual([{ id: 'a/m', verdict: 'neutral', probe: false }]);
    });

    it('counts the wait for a connection of its pool (maxConnections) for nothing: the clock starts at the send', async () => {
      // 30 s in all, but 26 s of them queued behind our own busy connections: 4 s at the provider, under its 5 s.
      await failureOf(bench.loop.run([a, b], request, cutAfter(30_000, 'deadline', undefined, 26_000)));
      expect(bench.circuits.settled).toEqual([{ id: 'a/m', verdict: 'neutral', probe: false }]);
      expect(bench.events).toEqual(['call a/m cancelled']);
    });

    it('counts a deadline cut of a call that never got a connection for nothing: the provider never had it', async () => {
      await failureOf(bench.loop.run([a, b], request, cutAfter(30_000, 'deadline', undefined, null)));
      expect(bench.circuits.settled).toEqual([{ id: 'a/m', verdict: 'neutral', probe: false }]);
      expect(bench.events).toEqual(['call a/m cancelled']);
    });

    it("counts a call queued for a connection, then unanswered for its route's timeout once sent, as the provider's timeout", async () => {
      await failureOf(bench.loop.run([a, b], request, cutAfter(30_000, 'deadline', undefined, 25_000)));
      expect(bench.circuits.settled).toEqual([{ id: 'a/m', verdict: 'failure', probe: false }]);
      expect(bench.events).toEqual(['call a/m timeout']);
    });

    it('counts a call its client left for nothing, however long it waited', async () => {
      const err = await failureOf(bench.loop.run([a, b], request, cutAfter(30_000, 'client_disconnected')));
      expect(err).toMatchObject({ abortCause: 'client_disconnected' });
      expect(bench.circuits.settled).toEqual([{ id: 'a/m', verdict: 'neutral', probe: false }]);
    });

    it('does not call anything once aborted', async () => {
      const controller = new AbortController();
      controller.abort(new GenerationAbort('client_disconnected'));
      const err = await failureOf(bench.loop.run([a], request, controller.signal));
      expect(err).toMatchObject({ abortCause: 'client_disconnected' });
      expect(bench.adapters.calls).toEqual([]);
    });
  });
});
