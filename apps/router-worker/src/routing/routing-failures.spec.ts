import { ErrorClass, ErrorCode, httpStatusOf, ProviderCallError, retryHintOf, type Attempt } from '@aigw/core';
import { allProvidersFailed, contextLengthFailure } from './routing-failures';

function failed(provider: string, errorClass: string, status: number): Attempt {
  return { provider, model: 'm', route: 'direct', ok: false, errorClass, status, latencyMs: 5, retries: 0 };
}

describe('allProvidersFailed', () => {
  it('is a 429 the client may retry after the shortest wait when every call was refused for a rate limit', () => {
    const err = allProvidersFailed([failed('pa', 'rate_limit', 429), failed('pb', 'rate_limit', 429)], 7_000, null);
    expect(err.code).toBe(ErrorCode.ProviderRateLimited);
    expect(httpStatusOf(err.code)).toBe(429);
    expect(err.retryAfterMs).toBe(7_000);
    expect(retryHintOf(err)).toBeUndefined();
    expect(err.message).toBe('Every provider rate limited the request (pa/m: rate_limit 429; pb/m: rate_limit 429).');
    expect(err.toBody()).toMatchObject({ type: 'rate_limit_error', attempts: err.attempts });
  });

  it('stays a 502 the client is told not to retry when any call failed otherwise', () => {
    const attempts = [
      failed('pa', 'rate_limit', 429),
      failed('pb', 'provider', 503),
      { provider: 'pc', model: 'm', route: 'direct' as const, ok: true, latencyMs: 1, retries: 0 },
    ];
    const err = allProvidersFailed(attempts, 7_000, null);
    expect(err.code).toBe(ErrorCode.AllProvidersFailed);
    expect(httpStatusOf(err.code)).toBe(502);
    expect(retryHintOf(err)).toBe(false);
    expect(err.message).toBe('All providers failed (pa/m: rate_limit 429; pb/m: provider 503).');
  });
});

describe('contextLengthFailure', () => {
  const tooLong = new ProviderCallError(
    ErrorClass.ContextLength,
    'upstream HTTP 400: input exceeds maximum context length',
    {
      status: 400,
    },
  );

  it('names the field to shorten, as OpenAI does: input for an embeddings request, messages for chat', () => {
    const embed = contextLengthFailure(tooLong, [], true);
    expect(embed.code).toBe(ErrorCode.ContextLengthExceeded);
    expect(embed.param).toBe('input');
    const chat = contextLengthFailure(tooLong, []);
    expect(chat.code).toBe(ErrorCode.ContextLengthExceeded);
    expect(chat.param).toBe('messages');
  });
});
