import { anthropicRateLimit, openAiRateLimit, parseDurationMs, parseRetryAfter } from './headers';

const NOW = Date.parse('2026-03-01T12:00:00Z');

describe('parseDurationMs', () => {
  it.each([
    ['1s', 1000],
    ['6m0s', 360_000],
    ['20ms', 20],
    ['1h2m3.5s', 3_723_500],
    ['0.5s', 500],
    ['17.28s', 17_280],
    ['2', 2000],
    ['1m30s', 90_000],
  ])('%s -> %i ms', (text, ms) => {
    expect(parseDurationMs(text)).toBe(ms);
  });

  it.each(['', 'soon', '5 minutes', '1d', '-1s', 's'])('%p is unreadable', (text) => {
    expect(parseDurationMs(text)).toBeUndefined();
  });
});

describe('parseRetryAfter', () => {
  it('prefers retry-after-ms, then seconds, then an HTTP date', () => {
    expect(parseRetryAfter({ 'retry-after-ms': '250.5', 'retry-after': '9' }, NOW)).toBe(251);
    expect(parseRetryAfter({ 'retry-after': '7' }, NOW)).toBe(7000);
    expect(parseRetryAfter({ 'retry-after': 'Sun, 01 Mar 2026 12:00:30 GMT' }, NOW)).toBe(30_000);
  });

  it('never goes negative and ignores junk', () => {
    expect(parseRetryAfter({ 'retry-after': 'Sun, 01 Mar 2026 11:00:00 GMT' }, NOW)).toBe(0);
    expect(parseRetryAfter({ 'retry-after': 'whenever' }, NOW)).toBeUndefined();
    expect(parseRetryAfter({ 'retry-after-ms': 'x', 'retry-after': '1' }, NOW)).toBe(1000);
    expect(parseRetryAfter({ 'retry-after': '-5' }, NOW)).toBeUndefined();
    expect(parseRetryAfter({}, NOW)).toBeUndefined();
  });

  it('takes the first of repeated headers', () => {
    expect(parseRetryAfter({ 'retry-after': ['2', '9'] }, NOW)).toBe(2000);
  });
});

describe('openAiRateLimit', () => {
  it('reads the x-ratelimit headers', () => {
    expect(
      openAiRateLimit({
        'x-ratelimit-limit-requests': '10000',
        'x-ratelimit-remaining-requests': '9999',
        'x-ratelimit-remaining-tokens': '149984',
        'x-ratelimit-reset-requests': '6m0s',
        'x-ratelimit-reset-tokens': '20ms',
      }),
    ).toEqual({ remainingRequests: 9999, remainingTokens: 149984, resetRequestsMs: 360_000, resetTokensMs: 20 });
  });

  it('gives undefined without them and leaves unreadable values out', () => {
    expect(openAiRateLimit({ 'content-type': 'application/json' })).toBeUndefined();
    expect(openAiRateLimit({ 'x-ratelimit-remaining-requests': '5', 'x-ratelimit-reset-requests': 'later' })).toEqual({
      remainingRequests: 5,
    });
  });
});

describe('anthropicRateLimit', () => {
  it('reads the anthropic-ratelimit headers with RFC 3339 resets', () => {
    expect(
      anthropicRateLimit(
        {
          'anthropic-ratelimit-requests-remaining': '49',
          'anthropic-ratelimit-requests-reset': '2026-03-01T12:00:01Z',
          'anthropic-ratelimit-tokens-remaining': '39000',
          'anthropic-ratelimit-tokens-reset': '2026-03-01T12:00:00.500Z',
        },
        NOW,
      ),
    ).toEqual({ remainingRequests: 49, remainingTokens: 39000, resetRequestsMs: 1000, resetTokensMs: 500 });
  });

  it('gives undefined without them', () => {
    expect(anthropicRateLimit({ 'request-id': 'req_1' }, NOW)).toBeUndefined();
  });
});
