import { rateLimitHeaders, resetDuration } from './rate-limit-headers';

describe('rate-limit headers', () => {
  it('formats resets as OpenAI does: 20ms, 1s, 6m0s', () => {
    expect(resetDuration(20)).toBe('20ms');
    expect(resetDuration(999)).toBe('999ms');
    expect(resetDuration(1000)).toBe('1s');
    expect(resetDuration(59_001)).toBe('1m0s');
    expect(resetDuration(360_000)).toBe('6m0s');
  });

  it('sends the request and token twins only for the limits that apply', () => {
    expect(
      rateLimitHeaders({
        limitRequests: 60,
        remainingRequests: 59,
        limitTokens: null,
        remainingTokens: null,
        resetMs: 1500,
      }),
    ).toEqual({
      'x-ratelimit-limit-requests': '60',
      'x-ratelimit-remaining-requests': '59',
      'x-ratelimit-reset-requests': '2s',
    });
    expect(
      rateLimitHeaders({
        limitRequests: null,
        remainingRequests: null,
        limitTokens: 1000,
        remainingTokens: 0,
        resetMs: 10,
      }),
    ).toEqual({
      'x-ratelimit-limit-tokens': '1000',
      'x-ratelimit-remaining-tokens': '0',
      'x-ratelimit-reset-tokens': '10ms',
    });
    expect(
      rateLimitHeaders({
        limitRequests: null,
        remainingRequests: null,
        limitTokens: null,
        remainingTokens: null,
        resetMs: 0,
      }),
    ).toEqual({});
  });
});
