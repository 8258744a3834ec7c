import { ErrorClass, ErrorCode, GatewayError, ProviderCallError, type GenerationResult } from '@aigw/core';
import { GenerationCancelledError } from '../cancel/abort';
import { failedAttempt, successAttempt } from '../generation/outcomes';
import { deployment, generationRequest } from '../generation/request.fixtures';
import { billedOf, outcomeOf, usageEventOf } from './usage-event';

const request = generationRequest({
  context: 'coding',
  policy: 'cost',
  stream: true,
  receivedAt: Date.UTC(2026, 0, 2),
});
const d = deployment();

function result(): GenerationResult {
  return {
    requestId: request.requestId,
    id: 'cmpl',
    created: 1,
    text: 'hi',
    finishReason: 'stop',
    provider: 'sim',
    model: 'sim-gpt',
    route: 'direct',
    usage: { promptTokens: 10, completionTokens: 5, totalTokens: 15, cachedPromptTokens: 4 },
    costUsd: 0.0123,
    latencyMs: 42.6,
    providerLatencyMs: 40,
    attempts: [successAttempt(d, 'direct', 40, 0)],
  };
}

describe('usageEventOf', () => {
  it('records a success with tokens, cost and the request context', () => {
    expect(usageEventOf(request, { ok: true, result: result() }, 0)).toEqual({
      requestId: 'req_1',
      userId: request.userId,
      apiKeyId: request.apiKeyId,
      requestedModel: 'sim-gpt',
      provider: 'sim',
      model: 'sim-gpt',
      context: 'coding',
      promptTokens: 10,
      completionTokens: 5,
      cachedTokens: 4,
      costUsd: 0.0123,
      latencyMs: 43,
      // The answering call's own time: what the deployment's latency statistics average, not the request's.
      providerLatencyMs: 40,
      cached: false,
      status: 'success',
      errorClass: null,
      errorCode: null,
      attempts: 1,
      policy: 'cost',
      stream: true,
      createdAt: '2026-01-02T00:00:00.000Z',
    });
  });

  it('records a provider failure against the provider of the last attempt', () => {
    const err = new ProviderCallError(ErrorClass.Provider, 'boom', { status: 500 });
    const error = new GatewayError(ErrorCode.ProviderError, 'failed', {
      attempts: [failedAttempt(d, 'direct', err, 3, 0)],
    });
    const event = usageEventOf(request, { ok: false, error }, request.receivedAt + 1500);
    expect(event).toMatchObject({
      provider: 'sim',
      model: 'sim-gpt',
      status: 'error',
      errorClass: 'provider',
      errorCode: 'provider_error',
      attempts: 1,
      latencyMs: 1500,
      promptTokens: 0,
      costUsd: 0,
    });
  });

  it('carries the attempts that failed before the one it stands for, unbilled, and none when there were none', () => {
    const a = deployment({ id: 'pa' }, { name: 'shared' });
    const b = deployment({ id: 'pb' }, { name: 'shared' });
    const c = deployment({ id: 'pc' }, { name: 'shared' });
    const down = new ProviderCallError(ErrorClass.Provider, 'boom', { status: 503 });
    const slow = new ProviderCallError(ErrorClass.Timeout, 'slow');
    const answered = {
      ...result(),
      attempts: [failedAttempt(a, 'direct', down, 120.4, 2), failedAttempt(b, 'direct', slow, 900, 0)],
    };
    answered.attempts.push(successAttempt(c, 'direct', 40, 0));
    expect(usageEventOf(request, { ok: true, result: answered }, 0).failedAttempts).toEqual([
      { provider: 'pa', model: 'shared', errorClass: 'provider', latencyMs: 120 },
      { provider: 'pb', model: 'shared', errorClass: 'timeout', latencyMs: 900 },
    ]);
    // All failed: the last failure is the event's own (its provider), the earlier ones ride along.
    const error = new GatewayError(ErrorCode.AllProvidersFailed, 'failed', { attempts: answered.attempts.slice(0, 2) });
    const failed = usageEventOf(request, { ok: false, error }, request.receivedAt);
    expect(failed).toMatchObject({ provider: 'pb', attempts: 2 });
    expect(failed.failedAttempts).toEqual([
      { provider: 'pa', model: 'shared', errorClass: 'provider', latencyMs: 120 },
    ]);
    expect(usageEventOf(request, { ok: true, result: result() }, 0).failedAttempts).toBeUndefined();
  });

  it('records a request that never reached a provider with no provider', () => {
    const error = new GatewayError(ErrorCode.ModelNotFound, 'no such model');
    expect(usageEventOf(request, { ok: false, error }, request.receivedAt)).toMatchObject({
      provider: null,
      model: null,
      errorClass: null,
      errorCode: 'model_not_found',
      attempts: 0,
    });
  });

  it('marks cancellations as such, whatever code they answer with', () => {
    const event = usageEventOf(request, { ok: false, error: new GenerationCancelledError('shutdown', []) }, 0);
    expect(event).toMatchObject({ status: 'error', errorClass: 'cancelled', errorCode: 'service_unavailable' });
  });
  it('bills what a cut stream generated, and names a client that left apart from a timeout', () => {
    const spent = {
      provider: 'sim',
      model: 'sim-gpt',
      usage: { promptTokens: 12, completionTokens: 7, totalTokens: 19, cachedPromptTokens: 0 },
      costUsd: 0.0004,
    };
    const left = new GenerationCancelledError(
      'client_disconnected',
      [failedAttempt(d, 'direct', new ProviderCallError(ErrorClass.Cancelled, 'gone'), 5, 0)],
      undefined,
      spent,
    );
    expect(usageEventOf(request, { ok: false, error: left }, 0)).toMatchObject({
      provider: 'sim',
      model: 'sim-gpt',
      promptTokens: 12,
      completionTokens: 7,
      costUsd: 0.0004,
      status: 'error',
      errorClass: 'cancelled',
      errorCode: 'client_closed_request',
    });
    const deadline = new GenerationCancelledError('deadline', []);
    expect(usageEventOf(request, { ok: false, error: deadline }, 0)).toMatchObject({
      costUsd: 0,
      errorCode: ErrorCode.Timeout,
    });
  });
});

describe('outcomeOf', () => {
  it('wraps a result, or the error body with its retry hint and abort cause (null: not aborted)', () => {
    const r = result();
    expect(outcomeOf({ ok: true, result: r })).toEqual({ ok: true, result: r });
    const error = new GenerationCancelledError('shutdown', []);
    expect(outcomeOf({ ok: false, error })).toEqual({
      ok: false,
      error: error.toBody(),
      retryAfterMs: 1000,
      abortCause: 'shutdown',
    });
    const plain = new GatewayError(ErrorCode.ModelNotFound, 'x', { param: 'model' });
    expect(outcomeOf({ ok: false, error: plain })).toEqual({
      ok: false,
      error: { message: 'x', type: 'not_found_error', code: 'model_not_found', param: 'model' },
      abortCause: null,
    });
  });

  it('says a generation stopped because its client left by its cause, beside its error body, not in it', () => {
    const left = new GenerationCancelledError('client_disconnected', []);
    const outcome = outcomeOf({ ok: false, error: left });
    expect(outcome).toEqual({ ok: false, error: left.toBody(), abortCause: 'client_disconnected' });
    expect(outcome.ok ? null : outcome.error).not.toHaveProperty('abortCause');
  });
});

describe('charged failed calls', () => {
  const err = new ProviderCallError(ErrorClass.Provider, 'upstream ended the answer with finish_reason "error"');
  const usage = (p: number, c: number) => ({
    promptTokens: p,
    completionTokens: c,
    totalTokens: p + c,
    cachedPromptTokens: 0,
  });

  it('go on the row of the failed attempt they belong to, or the request’s for the last attempt, once each', () => {
    const r = result();
    // Failed (charged), failed (not), failed (charged), then the answer after a charged retry of its deployment.
    r.attempts = [failedAttempt(d, 'direct', err, 1, 0), failedAttempt(d, 'direct', err, 1, 0)];
    r.attempts.push(failedAttempt(d, 'direct', err, 1, 1), successAttempt(d, 'direct', 40, 1));
    r.charged = [
      { attempt: 0, provider: 'a', model: 'm', usage: usage(100, 10), costUsd: 0.001 },
      { attempt: 2, provider: 'c', model: 'm', usage: usage(200, 20), costUsd: 0.002 },
      { attempt: 3, provider: 'sim', model: 'sim-gpt', usage: usage(300, 30), costUsd: 0.003 },
    ];
    const event = usageEventOf(request, { ok: true, result: r }, 0);
    expect(event.failedAttempts?.map((a) => a.charged?.costUsd)).toEqual([0.001, undefined, 0.002]);
    expect(event.failedAttempts?.[2].charged).toMatchObject({ promptTokens: 200, completionTokens: 20 });
    expect([event.promptTokens, event.completionTokens]).toEqual([310, 35]);
    expect(event.costUsd).toBeCloseTo(0.0153, 12);
    expect(billedOf(event).tokens).toBe(310 + 35 + 110 + 220);
    expect(billedOf(event).costUsd).toBeCloseTo(0.0183, 12);
  });

  it('go with a failure too', () => {
    const error = new GatewayError(ErrorCode.AllProvidersFailed, 'all failed', {
      attempts: [failedAttempt(d, 'direct', err, 1, 0), failedAttempt(d, 'direct', err, 1, 0)],
    });
    error.charged = [
      { attempt: 0, provider: 'a', model: 'm', usage: usage(100, 10), costUsd: 0.001 },
      { attempt: 1, provider: 'sim', model: 'sim-gpt', usage: usage(200, 20), costUsd: 0.002 },
    ];
    const event = usageEventOf(request, { ok: false, error }, 0);
    expect(event.failedAttempts?.[0].charged?.costUsd).toBe(0.001);
    expect([event.promptTokens, event.completionTokens, event.costUsd]).toEqual([200, 20, 0.002]);
    expect(billedOf(event)).toEqual({ tokens: 330, costUsd: 0.003 });
  });
});
