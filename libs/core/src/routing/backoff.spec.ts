import { ErrorClass } from '../errors';
import {
  DEFAULT_RETRY_OPTIONS,
  backoffDelayMs,
  fitsDeadline,
  planRetry,
  retryDelayMs,
  type BackoffOptions,
} from './backoff';

/** Deterministic PRNG (mulberry32), so the statistical checks cannot flake. */
function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const opts: BackoffOptions = { baseMs: 1000, maxMs: 10_000 };
const lowest = (): number => 0;
const highest = (): number => 0.999999999;

describe('backoffDelayMs', () => {
  it('is bounded by [0, min(maxMs, baseMs * 2^(attempt-1))]', () => {
    const caps = [1000, 2000, 4000, 8000, 10_000, 10_000];
    caps.forEach((cap, i) => {
      expect(backoffDelayMs(i + 1, opts, lowest)).toBe(0);
      expect(backoffDelayMs(i + 1, opts, highest)).toBe(cap);
    });
  });

  it('stays finite for absurd attempt numbers and treats attempt < 1 as the first retry', () => {
    expect(backoffDelayMs(5000, opts, highest)).toBe(10_000);
    expect(backoffDelayMs(0, opts, highest)).toBe(1000);
    expect(backoffDelayMs(-3, opts, highest)).toBe(1000);
  });

  it('spreads delays uniformly over the whole range (full jitter)', () => {
    const random = seededRandom(42);
    const samples = 20_000;
    const cap = 4000; // attempt 3
    const quarters = [0, 0, 0, 0];
    let sum = 0;
    let min = Infinity;
    let max = -Infinity;
    for (let i = 0; i < samples; i++) {
      const v = backoffDelayMs(3, opts, random);
      expect(Number.isInteger(v)).toBe(true);
      sum += v;
      min = Math.min(min, v);
      max = Math.max(max, v);
      quarters[Math.min(3, Math.floor(v / (cap / 4)))]++;
    }
    expect(min).toBeGreaterThanOrEqual(0);
    expect(max).toBeLessThanOrEqual(cap);
    expect(min).toBeLessThan(cap * 0.01);
    expect(max).toBeGreaterThan(cap * 0.99);
    expect(sum / samples).toBeGreaterThan(cap * 0.48);
    expect(sum / samples).toBeLessThan(cap * 0.52);
    for (const q of quarters) {
      expect(q / samples).toBeGreaterThan(0.23);
      expect(q / samples).toBeLessThan(0.27);
    }
  });
});

describe('retryDelayMs', () => {
  it('treats Retry-After as a minimum', () => {
    expect(retryDelayMs(1, 5000, opts, highest)).toBe(5000);
    expect(retryDelayMs(1, 5000, opts, lowest)).toBe(5000);
    expect(retryDelayMs(3, 100, opts, highest)).toBe(4000);
  });

  it('is not capped by maxMs when the server asks for longer', () => {
    expect(retryDelayMs(1, 60_000, opts, lowest)).toBe(60_000);
  });

  it('rounds fractional Retry-After up and ignores unusable values', () => {
    expect(retryDelayMs(1, 1500.2, opts, lowest)).toBe(1501);
    for (const bad of [undefined, Number.NaN, -1, 0, Infinity]) {
      expect(retryDelayMs(2, bad, opts, highest)).toBe(2000);
    }
  });
});

describe('fitsDeadline', () => {
  it('needs the delay plus a minimal call to fit before the deadline', () => {
    expect(fitsDeadline(1000, 500, 2500, 1000)).toBe(true);
    expect(fitsDeadline(1000, 501, 2500, 1000)).toBe(false);
    expect(fitsDeadline(3000, 0, 2500, 0)).toBe(false);
  });
});

describe('planRetry', () => {
  it("obeys the provider's x-should-retry over the class", () => {
    const opts = { maxRetries: 2, baseMs: 100, maxMs: 1000, minCallMs: 10 };
    expect(planRetry({ errorClass: ErrorClass.Provider, shouldRetry: false }, 1, 0, 60_000, opts, () => 0)).toEqual({
      retry: false,
      reason: 'not_retryable',
    });
    expect(
      planRetry({ errorClass: ErrorClass.InvalidRequest, shouldRetry: true }, 1, 0, 60_000, opts, () => 0),
    ).toEqual({ retry: true, delayMs: 0 });
    // It does not lift the retry budget or the deadline.
    expect(planRetry({ errorClass: ErrorClass.Provider, shouldRetry: true }, 3, 0, 60_000, opts, () => 0)).toEqual({
      retry: false,
      reason: 'exhausted',
    });
  });

  const retryOpts = { ...DEFAULT_RETRY_OPTIONS, baseMs: 100, maxMs: 1000, maxRetries: 2, minCallMs: 50 };
  const now = 10_000;
  const farDeadline = now + 60_000;

  it.each([ErrorClass.Network, ErrorClass.Timeout, ErrorClass.RateLimit, ErrorClass.Provider])(
    'retries %s with a backoff delay',
    (errorClass) => {
      expect(planRetry({ errorClass }, 1, now, farDeadline, retryOpts, highest)).toEqual({ retry: true, delayMs: 100 });
      expect(planRetry({ errorClass }, 2, now, farDeadline, retryOpts, highest)).toEqual({ retry: true, delayMs: 200 });
    },
  );

  it.each([
    ErrorClass.InvalidRequest,
    ErrorClass.Auth,
    ErrorClass.ContextLength,
    ErrorClass.Gateway,
    ErrorClass.Cancelled,
  ])('never retries %s', (errorClass) => {
    expect(planRetry({ errorClass }, 1, now, farDeadline, retryOpts)).toEqual({
      retry: false,
      reason: 'not_retryable',
    });
  });

  it('stops after maxRetries', () => {
    expect(planRetry({ errorClass: ErrorClass.Network }, 3, now, farDeadline, retryOpts)).toEqual({
      retry: false,
      reason: 'exhausted',
    });
  });

  it('honours Retry-After and gives up when it would pass the deadline', () => {
    const rateLimited = { errorClass: ErrorClass.RateLimit, retryAfterMs: 2000 };
    expect(planRetry(rateLimited, 1, now, farDeadline, retryOpts, lowest)).toEqual({ retry: true, delayMs: 2000 });
    expect(planRetry(rateLimited, 1, now, now + 2049, retryOpts, lowest)).toEqual({ retry: false, reason: 'deadline' });
    expect(planRetry(rateLimited, 1, now, now + 2050, retryOpts, lowest)).toEqual({ retry: true, delayMs: 2000 });
  });
});
