import { ErrorClass, ErrorCode, ProviderCallError } from '@aigw/core';
import { GenerationCancelledError } from '../cancel/abort';
import { failedAttempt, failureOf, resultOf, successAttempt, targetOf } from './outcomes';
import { deployment, generationRequest } from './test-fixtures';

describe('targetOf', () => {
  it('sends the upstream name when the model has one, and pools per provider', () => {
    const d = deployment({ id: 'zai', maxConnections: 16 }, { name: 'glm', upstreamName: 'zai/glm-4.6' });
    expect(targetOf(d)).toEqual({
      baseUrl: 'http://127.0.0.1:9/v1',
      apiKey: 'sk-test-secret',
      model: 'zai/glm-4.6',
      timeoutMs: 5000,
      poolKey: 'zai',
      maxConnections: 16,
    });
    expect(targetOf(deployment()).model).toBe('sim-gpt');
  });
});

describe('attempts', () => {
  it('records a success and a classified failure with its status', () => {
    const d = deployment();
    expect(successAttempt(d, 12.34)).toEqual({
      provider: 'sim',
      model: 'sim-gpt',
      route: 'direct',
      ok: true,
      latencyMs: 12.3,
      retries: 0,
    });
    const err = new ProviderCallError(ErrorClass.Provider, 'upstream said 500', { status: 500 });
    expect(failedAttempt(d, err, 5)).toEqual({
      provider: 'sim',
      model: 'sim-gpt',
      route: 'direct',
      ok: false,
      errorClass: 'provider',
      status: 500,
      message: 'upstream said 500',
      latencyMs: 5,
      retries: 0,
    });
  });
});

describe('failureOf', () => {
  const d = deployment();
  const failure = (errorClass: ErrorClass, opts: { status?: number; retryAfterMs?: number } = {}) => {
    const err = new ProviderCallError(errorClass, `boom (${errorClass})`, opts);
    return failureOf(err, failedAttempt(d, err, 1), null);
  };

  it.each([
    [ErrorClass.Provider, ErrorCode.ProviderError, 502],
    [ErrorClass.Network, ErrorCode.ProviderError, 502],
    [ErrorClass.RateLimit, ErrorCode.ProviderError, 502],
    [ErrorClass.Auth, ErrorCode.ProviderError, 502],
    [ErrorClass.Gateway, ErrorCode.ProviderError, 502],
    [ErrorClass.InvalidRequest, ErrorCode.InvalidRequest, 400],
    [ErrorClass.ContextLength, ErrorCode.ContextLengthExceeded, 400],
    [ErrorClass.Timeout, ErrorCode.Timeout, 504],
  ])('maps %s to %s (%d) and keeps the attempt', (errorClass, code, status) => {
    const err = failure(errorClass);
    expect(err.code).toBe(code);
    expect(err.status).toBe(status);
    expect(err.attempts).toHaveLength(1);
    expect(err.attempts?.[0]).toMatchObject({ ok: false, errorClass });
    expect(err.cause).toBeInstanceOf(ProviderCallError);
  });

  it('names the provider and status of a provider failure without echoing its body', () => {
    const err = failure(ErrorClass.Provider, { status: 503 });
    expect(err.message).toBe("Provider 'sim' failed (provider, status 503).");
  });

  it("keeps the provider's explanation of a client mistake", () => {
    expect(failure(ErrorClass.InvalidRequest).message).toContain('boom (invalid_request)');
  });

  it("passes a rate limit's Retry-After on", () => {
    expect(failure(ErrorClass.RateLimit, { retryAfterMs: 2000 }).retryAfterMs).toBe(2000);
  });

  it('turns a cancelled call into a cancellation with its cause', () => {
    const err = new ProviderCallError(ErrorClass.Cancelled, 'aborted');
    const deadline = failureOf(err, failedAttempt(d, err, 1), 'deadline');
    expect(deadline).toBeInstanceOf(GenerationCancelledError);
    expect(deadline).toMatchObject({ code: ErrorCode.Timeout, abortCause: 'deadline', replies: true });
    const client = failureOf(err, failedAttempt(d, err, 1), 'client_disconnected');
    expect(client).toMatchObject({ abortCause: 'client_disconnected', replies: false });
    // Aborted by nobody we know of: the pool was closed under the call, which only shutdown does.
    const unknown = failureOf(err, failedAttempt(d, err, 1), null);
    expect(unknown).toMatchObject({ code: ErrorCode.ServiceUnavailable, abortCause: 'shutdown', retryAfterMs: 1000 });
  });
});

describe('resultOf', () => {
  it('prices the answer, names the deployment and measures from receipt', () => {
    const request = generationRequest({ receivedAt: 1000 });
    const d = deployment({}, { promptPer1k: 1, completionPer1k: 2, cachedPromptPer1k: 0.5 });
    const attempts = [successAttempt(d, 40)];
    const usage = { promptTokens: 100, completionTokens: 50, totalTokens: 150, cachedPromptTokens: 20 };
    const result = resultOf(
      request,
      d,
      { id: 'chatcmpl-1', created: 7, text: 'hi', finishReason: 'stop', usage },
      attempts,
      40.04,
      1250,
    );
    expect(result).toEqual({
      requestId: 'req_1',
      id: 'chatcmpl-1',
      created: 7,
      text: 'hi',
      finishReason: 'stop',
      provider: 'sim',
      model: 'sim-gpt',
      route: 'direct',
      usage,
      // (80 * 1 + 20 * 0.5 + 50 * 2) / 1000
      costUsd: 0.19,
      latencyMs: 250,
      providerLatencyMs: 40,
      attempts,
    });
  });
});
