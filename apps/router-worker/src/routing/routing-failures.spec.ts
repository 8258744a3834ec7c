import {
  anthropicErrorBody,
  ErrorClass,
  ErrorCode,
  httpStatusOf,
  ProviderCallError,
  retryHintOf,
  type Attempt,
} from '@aigw/core';
import { deployment } from '../generation/request.fixtures';
import { allProvidersFailed, contextLengthFailure, midStreamFailure, type FailedCalls } from './routing-failures';

/** What the loop passes besides the attempts: the wait left, and whether a provider out of room named none. */
function calls(waitMs: number | undefined, unnamedWait = false, unreached: Attempt[] = []): FailedCalls {
  return { waitMs, unnamedWait, unreached: new Set(unreached) };
}

function failed(provider: string, errorClass: string, status?: number): Attempt {
  const attempt: Attempt = { provider, model: 'm', route: 'direct', ok: false, errorClass, latencyMs: 5, retries: 0 };
  if (status !== undefined) {
    attempt.status = status;
  }
  return attempt;
}

describe('allProvidersFailed', () => {
  it('is a 429 the client may retry after the shortest wait when every call was refused for a rate limit', () => {
    const err = allProvidersFailed(
      [failed('pa', 'rate_limit', 429), failed('pb', 'rate_limit', 429)],
      null,
      calls(7_000),
    );
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
      failed('pb', 'provider', 500),
      { provider: 'pc', model: 'm', route: 'direct' as const, ok: true, latencyMs: 1, retries: 0 },
    ];
    const err = allProvidersFailed(attempts, null, calls(7_000));
    expect(err.code).toBe(ErrorCode.AllProvidersFailed);
    expect(httpStatusOf(err.code)).toBe(502);
    expect(retryHintOf(err)).toBe(false);
    expect(err.message).toBe('All providers failed (pa/m: rate_limit 429; pb/m: provider 500).');
  });
});

describe('allProvidersFailed when every provider was out of capacity', () => {
  // Anthropic's 529 overloaded_error, a 503, a rate limit, and an overloaded_error event before the answer began.
  const overloaded = { ...failed('pd', 'provider'), overloaded: true as const };
  const capacity = [failed('pa', 'provider', 529), failed('pb', 'provider', 503), failed('pc', 'rate_limit', 429)];

  it('is a 503 the client is told to retry (overloaded_error on the Anthropic entrance), after the shortest wait', () => {
    const err = allProvidersFailed([...capacity, overloaded], null, calls(3_000));
    expect(err.code).toBe(ErrorCode.AllProvidersOverloaded);
    expect(httpStatusOf(err.code)).toBe(503);
    expect(retryHintOf(err)).toBe(true);
    expect(err.retryAfterMs).toBe(3_000);
    expect(err.message).toBe(
      'No provider had room for the request (pa/m: provider 529; pb/m: provider 503; pc/m: rate_limit 429; ' +
        'pd/m: provider overloaded): retry shortly.',
    );
    expect(err.toBody()).toMatchObject({ type: 'service_unavailable_error', attempts: err.attempts });
    expect(anthropicErrorBody(err.toBody()).error).toMatchObject({
      type: 'overloaded_error',
      code: 'all_providers_overloaded',
    });
  });

  it('asks for a short wait when no provider named one, and never for more than a minute', () => {
    expect(allProvidersFailed([failed('pa', 'provider', 529)], null, calls(undefined)).retryAfterMs).toBe(1_000);
    expect(allProvidersFailed([overloaded], null, calls(600_000)).retryAfterMs).toBe(60_000);
  });

  it('asks for a second when a provider out of room named no wait, though another named a longer one', () => {
    const err = allProvidersFailed(
      [failed('pa', 'provider', 529), failed('pb', 'provider', 529)],
      null,
      calls(30_000, true),
    );
    expect(err.code).toBe(ErrorCode.AllProvidersOverloaded);
    expect(err.retryAfterMs).toBe(1_000);
    // A shorter wait named stays the answer's.
    expect(allProvidersFailed([failed('pa', 'provider', 503)], null, calls(300, true)).retryAfterMs).toBe(300);
    // Rate limits: no wait named then, as when none was.
    const limited = allProvidersFailed(
      [failed('pa', 'rate_limit', 429), failed('pb', 'rate_limit', 429)],
      null,
      calls(30_000, true),
    );
    expect(limited.code).toBe(ErrorCode.ProviderRateLimited);
    expect(limited.retryAfterMs).toBeUndefined();
  });

  it('lets a provider that could not be reached weigh neither way: the others decide, in any order', () => {
    const unreachable = failed('px', 'network');
    for (const attempts of [
      [unreachable, ...capacity],
      [...capacity, unreachable],
    ]) {
      const err = allProvidersFailed(attempts, null, calls(3_000));
      expect(err.code).toBe(ErrorCode.AllProvidersOverloaded);
      expect(retryHintOf(err)).toBe(true);
      expect(err.retryAfterMs).toBe(3_000);
    }
    const limited = allProvidersFailed([unreachable, failed('pa', 'rate_limit', 429)], null, calls(7_000));
    expect(limited.code).toBe(ErrorCode.ProviderRateLimited);
    expect(limited.retryAfterMs).toBe(7_000);
    expect(limited.message).toBe(
      'Every provider reached rate limited the request (px/m: network; pa/m: rate_limit 429).',
    );
    // Nothing but network failures, or one beside a 500: nothing said a retry would do, the 502.
    for (const attempts of [
      [unreachable],
      [unreachable, failed('pa', 'provider', 500), failed('pb', 'provider', 529)],
    ]) {
      const err = allProvidersFailed(attempts, null, calls(undefined));
      expect(err.code).toBe(ErrorCode.AllProvidersFailed);
      expect(retryHintOf(err)).toBe(false);
    }
  });

  it('lets a connect timeout weigh neither way, as a refused connection: a timeout after the request was sent does', () => {
    // Both of class timeout: only the loop, which saw the failure's cause, can tell a connection never made.
    const connectTimeout = failed('px', 'timeout');
    const readTimeout = failed('py', 'timeout');
    for (const attempts of [
      [connectTimeout, ...capacity],
      [...capacity, connectTimeout],
    ]) {
      const err = allProvidersFailed(attempts, null, calls(3_000, false, [connectTimeout]));
      expect(err.code).toBe(ErrorCode.AllProvidersOverloaded);
      expect(retryHintOf(err)).toBe(true);
      expect(err.retryAfterMs).toBe(3_000);
    }
    const limited = allProvidersFailed(
      [connectTimeout, failed('pa', 'rate_limit', 429)],
      null,
      calls(7_000, false, [connectTimeout]),
    );
    expect(limited.code).toBe(ErrorCode.ProviderRateLimited);
    expect(limited.message).toBe(
      'Every provider reached rate limited the request (px/m: timeout; pa/m: rate_limit 429).',
    );
    // Unreached alone, refused and timed out alike: the 502, with no wait to tell of.
    const unreachedOnly = [connectTimeout, failed('pz', 'network')];
    const alone = allProvidersFailed(unreachedOnly, null, calls(undefined, false, [connectTimeout]));
    expect(alone.code).toBe(ErrorCode.AllProvidersFailed);
    expect(alone.retryAfterMs).toBeUndefined();
    // A provider that took the request and its whole timeout to answer nothing is not unreached.
    const slow = allProvidersFailed([readTimeout, ...capacity], null, calls(3_000, false, [connectTimeout]));
    expect(slow.code).toBe(ErrorCode.AllProvidersFailed);
  });

  it('gives the 502 a Retry-After only for a cooldown still running among the deployments tried', () => {
    const attempts = [failed('pa', 'provider', 500), failed('pb', 'rate_limit', 429)];
    expect(allProvidersFailed(attempts, null, calls(4_000)).retryAfterMs).toBe(4_000);
    expect(allProvidersFailed(attempts, null, calls(undefined)).retryAfterMs).toBeUndefined();
  });

  it('stays a 502 the client is told not to retry when any call failed otherwise (a 500, a timeout, a bad key)', () => {
    for (const other of [failed('px', 'provider', 500), failed('px', 'timeout'), failed('px', 'auth', 401)]) {
      const err = allProvidersFailed([...capacity, other], null, calls(3_000));
      expect(err.code).toBe(ErrorCode.AllProvidersFailed);
      expect(retryHintOf(err)).toBe(false);
    }
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

describe('midStreamFailure of an embeddings request split into calls', () => {
  const usage = { promptTokens: 64, completionTokens: 0, totalTokens: 64, cachedPromptTokens: 0 };
  const spent = { provider: 'tei', model: 'bge', usage, costUsd: 0 };
  const attempts = [failed('tei', 'invalid_request', 400)];

  it("is the client's 400 naming the item the provider refused, billed for the calls before it", () => {
    const refused = new ProviderCallError(ErrorClass.InvalidRequest, 'upstream HTTP 400: input is too long', {
      status: 400,
      param: 'input[37]',
      billed: usage,
    });
    const err = midStreamFailure(deployment(), refused, attempts, spent, true);
    expect(err.code).toBe(ErrorCode.InvalidRequest);
    expect(httpStatusOf(err.code)).toBe(400);
    expect(err.param).toBe('input[37]');
    expect(err.spent).toEqual(spent);
  });

  it("is context_length_exceeded naming input when a later call's inputs were too long, billed alike", () => {
    const tooLong = new ProviderCallError(ErrorClass.ContextLength, 'upstream HTTP 413: payload too large', {
      status: 413,
      billed: usage,
    });
    const err = midStreamFailure(deployment(), tooLong, attempts, spent, true);
    expect(err.code).toBe(ErrorCode.ContextLengthExceeded);
    expect(err.param).toBe('input');
    expect(err.spent).toEqual(spent);
  });

  it('stays a provider error for a provider failure', () => {
    const failure = new ProviderCallError(ErrorClass.Provider, 'upstream HTTP 503', { status: 503, billed: usage });
    const err = midStreamFailure(deployment(), failure, attempts, spent, true);
    expect(err.code).toBe(ErrorCode.ProviderError);
    expect(err.spent).toEqual(spent);
  });
});
