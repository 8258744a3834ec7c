import type { QuotaSnapshot } from '@aigw/core';
import { quotaFromResponse } from './quota-headers';

const NOW = Date.parse('2026-03-01T12:00:00Z');
const at = (iso: string): number => Date.parse(iso);

function openAi(extra: Record<string, string> = {}): Record<string, string> {
  return {
    'content-type': 'application/json',
    'x-ratelimit-limit-requests': '5000',
    'x-ratelimit-remaining-requests': '4999',
    'x-ratelimit-reset-requests': '12ms',
    'x-ratelimit-limit-tokens': '160000',
    'x-ratelimit-remaining-tokens': '159976',
    'x-ratelimit-reset-tokens': '6m0s',
    ...extra,
  };
}

describe('quotaFromResponse: OpenAI-style x-ratelimit-* headers', () => {
  it('reads both windows; resets are durations from the moment the response arrived', () => {
    expect(quotaFromResponse(200, openAi(), NOW)).toEqual({
      requests: { limit: 5000, remaining: 4999, resetAt: NOW + 12 },
      tokens: { limit: 160000, remaining: 159976, resetAt: NOW + 360_000 },
      observedAt: NOW,
    });
  });

  it.each([
    ['1s', 1000],
    ['6m0s', 360_000],
    ['20ms', 20],
    ['1h2m3.5s', 3_723_500],
    ['17.28s', 17_280],
    ['30', 30_000],
  ])('reset %s is %i ms away', (reset, ms) => {
    const q = quotaFromResponse(200, openAi({ 'x-ratelimit-reset-requests': reset }), NOW);
    expect(q?.requests?.resetAt).toBe(NOW + ms);
  });

  it('reads a reset sent as epoch seconds or as a date (some proxies), not as a wait of decades', () => {
    const epoch = String((NOW + 90_000) / 1000);
    expect(quotaFromResponse(200, openAi({ 'x-ratelimit-reset-requests': epoch }), NOW)?.requests?.resetAt).toBe(
      NOW + 90_000,
    );
    const iso = '2026-03-01T12:01:00Z';
    expect(quotaFromResponse(200, openAi({ 'x-ratelimit-reset-tokens': iso }), NOW)?.tokens?.resetAt).toBe(at(iso));
  });

  it('keeps a window with only some of its figures (LiteLLM may send remaining alone)', () => {
    expect(quotaFromResponse(200, { 'x-ratelimit-remaining-requests': '7' }, NOW)).toEqual({
      requests: { limit: null, remaining: 7, resetAt: null },
      tokens: null,
      observedAt: NOW,
    });
  });

  it('takes the first of repeated headers', () => {
    const q = quotaFromResponse(200, { 'x-ratelimit-remaining-requests': ['3', '9'] }, NOW);
    expect(q?.requests?.remaining).toBe(3);
  });

  it('reads error responses too: rate limits come with any status', () => {
    expect(quotaFromResponse(500, openAi(), NOW)?.requests?.remaining).toBe(4999);
  });
});

describe('quotaFromResponse: Anthropic anthropic-ratelimit-* headers', () => {
  const anthropic = {
    'anthropic-ratelimit-requests-limit': '1000',
    'anthropic-ratelimit-requests-remaining': '999',
    'anthropic-ratelimit-requests-reset': '2026-03-01T12:00:59Z',
    'anthropic-ratelimit-input-tokens-limit': '80000',
    'anthropic-ratelimit-input-tokens-remaining': '80000',
    'anthropic-ratelimit-input-tokens-reset': '2026-03-01T12:00:59Z',
    'anthropic-ratelimit-output-tokens-limit': '16000',
    'anthropic-ratelimit-output-tokens-remaining': '4000',
    'anthropic-ratelimit-output-tokens-reset': '2026-03-01T12:01:00Z',
  };

  it('reads requests and the combined tokens window; resets are RFC 3339 instants', () => {
    const q = quotaFromResponse(
      200,
      {
        ...anthropic,
        'anthropic-ratelimit-tokens-limit': '96000',
        'anthropic-ratelimit-tokens-remaining': '84000',
        'anthropic-ratelimit-tokens-reset': '2026-03-01T12:00:30.500+00:00',
      },
      NOW,
    );
    expect(q).toEqual({
      requests: { limit: 1000, remaining: 999, resetAt: at('2026-03-01T12:00:59Z') },
      tokens: { limit: 96000, remaining: 84000, resetAt: NOW + 30_500 },
      observedAt: NOW,
    });
  });

  it('without the combined window, the tighter of input and output tokens stands for it', () => {
    expect(quotaFromResponse(200, anthropic, NOW)?.tokens).toEqual({
      limit: 16000,
      remaining: 4000,
      resetAt: at('2026-03-01T12:01:00Z'),
    });
    const onlyInput = Object.fromEntries(Object.entries(anthropic).filter(([k]) => !k.includes('output')));
    expect(quotaFromResponse(200, onlyInput, NOW)?.tokens).toMatchObject({ limit: 80000, remaining: 80000 });
  });
});

describe('quotaFromResponse: other families and nothing', () => {
  it('reads the IETF RateLimit header (HuggingFace): remaining requests and seconds to the reset', () => {
    expect(quotaFromResponse(200, { ratelimit: '"api";r=41;t=120' }, NOW)).toEqual({
      requests: { limit: null, remaining: 41, resetAt: NOW + 120_000 },
      tokens: null,
      observedAt: NOW,
    });
  });

  it('is null for a response without rate-limit headers', () => {
    expect(quotaFromResponse(200, {}, NOW)).toBeNull();
    expect(quotaFromResponse(200, { 'content-type': 'application/json', 'x-request-id': 'req_1' }, NOW)).toBeNull();
    // A reset alone says nothing about what is left.
    expect(quotaFromResponse(200, { 'x-ratelimit-reset-requests': '1s' }, NOW)).toBeNull();
  });
});

describe('quotaFromResponse: garbage is ignored, never thrown', () => {
  it.each([
    ['not a number', 'lots'],
    ['empty', ''],
    ['blank', '   '],
    ['negative (Azure sends -1 for "not reported")', '-1'],
    ['infinite', 'Infinity'],
    ['NaN', 'NaN'],
  ])('a count that is %s reads as unknown', (_what, value) => {
    const q = quotaFromResponse(200, openAi({ 'x-ratelimit-remaining-requests': value }), NOW);
    expect(q?.requests).toEqual({ limit: 5000, remaining: null, resetAt: NOW + 12 });
  });

  it.each([
    ['a word', 'soon'],
    ['a unit Go does not have', '1d'],
    ['negative', '-5s'],
    ['past any plausible window', '99999999h'],
    ['a 400-digit number', '9'.repeat(400)],
    ['a date long past', 'Thu, 01 Jan 1970 00:00:00 GMT'],
  ])('a reset that is %s reads as unknown', (_what, reset) => {
    const q = quotaFromResponse(200, openAi({ 'x-ratelimit-reset-requests': reset }), NOW);
    expect(q?.requests?.resetAt).toBeNull();
  });

  it('an unreadable Anthropic reset reads as unknown', () => {
    const q = quotaFromResponse(
      200,
      { 'anthropic-ratelimit-requests-remaining': '5', 'anthropic-ratelimit-requests-reset': 'tomorrow-ish' },
      NOW,
    );
    expect(q?.requests).toEqual({ limit: null, remaining: 5, resetAt: null });
  });

  it('keeps only numbers: no header text (keys, cookies, junk in a rate-limit header) gets into the snapshot', () => {
    const q = quotaFromResponse(
      200,
      openAi({
        authorization: 'Bearer sk-live-secret-1',
        'x-api-key': 'sk-ant-secret-2',
        'set-cookie': 'session=sk-secret-3',
        'x-ratelimit-limit-requests': 'sk-secret-4',
        'x-ratelimit-reset-tokens': 'sk-secret-5',
      }),
      NOW,
    );
    const text = JSON.stringify(q);
    expect(text).not.toMatch(/sk-|secret|Bearer|session/);
    for (const w of [q?.requests, q?.tokens]) {
      for (const v of Object.values(w ?? {})) {
        expect(v === null || typeof v === 'number').toBe(true);
      }
    }
  });
});

describe('quotaFromResponse: 429', () => {
  const previous: QuotaSnapshot = {
    requests: { limit: 60, remaining: 12, resetAt: NOW - 5000 },
    tokens: { limit: 90000, remaining: 40000, resetAt: NOW - 5000 },
    observedAt: NOW - 10_000,
  };

  it('with Retry-After: the requests window is spent until then, whatever the headers claimed', () => {
    const q = quotaFromResponse(429, openAi({ 'retry-after': '20' }), NOW);
    expect(q?.requests).toEqual({ limit: 5000, remaining: 0, resetAt: NOW + 20_000 });
    expect(q?.tokens).toEqual({ limit: 160000, remaining: 159976, resetAt: NOW + 360_000 });
    expect(quotaFromResponse(429, { 'retry-after-ms': '1500' }, NOW)?.requests?.resetAt).toBe(NOW + 1500);
  });

  it('a bare 429 keeps what the previous snapshot knew: the limit and the tokens window', () => {
    expect(quotaFromResponse(429, { 'retry-after': '7' }, NOW, previous)).toEqual({
      requests: { limit: 60, remaining: 0, resetAt: NOW + 7000 },
      tokens: previous.tokens,
      observedAt: NOW,
    });
  });

  it('when a window says it is spent, that one is; Retry-After fills in its reset if it gave none', () => {
    const q = quotaFromResponse(
      429,
      {
        'anthropic-ratelimit-requests-remaining': '40',
        'anthropic-ratelimit-tokens-limit': '80000',
        'anthropic-ratelimit-tokens-remaining': '0',
        'retry-after': '3',
      },
      NOW,
    );
    expect(q?.requests).toEqual({ limit: null, remaining: 40, resetAt: null });
    expect(q?.tokens).toEqual({ limit: 80000, remaining: 0, resetAt: NOW + 3000 });
  });

  it('without Retry-After nor headers: spent, reset unknown', () => {
    expect(quotaFromResponse(429, {}, NOW)).toEqual({
      requests: { limit: null, remaining: 0, resetAt: null },
      tokens: null,
      observedAt: NOW,
    });
  });

  it('other statuses never invent a spent window', () => {
    expect(quotaFromResponse(503, { 'retry-after': '5' }, NOW)).toBeNull();
  });
});
