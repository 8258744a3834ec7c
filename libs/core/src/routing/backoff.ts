import { isRetryableClass, type ErrorClass } from '../errors';

export interface BackoffOptions {
  /** Cap of the first retry's delay (RETRY_BASE_MS). */
  baseMs: number;
  /** No computed delay exceeds this (a server's Retry-After may). */
  maxMs: number;
}

export interface RetryOptions extends BackoffOptions {
  /** Retries per deployment after the first call (RETRY_MAX). */
  maxRetries: number;
  /** A retry is pointless unless at least this long remains for the call itself after the wait. */
  minCallMs: number;
}

export const DEFAULT_RETRY_OPTIONS: Readonly<RetryOptions> = Object.freeze({
  maxRetries: 2,
  baseMs: 1000,
  maxMs: 30_000,
  minCallMs: 1000,
});

/**
 * Exponential backoff with full jitter: uniform in [0, min(maxMs, baseMs · 2^(attempt-1))].
 * `attempt` is the retry number, 1 for the first retry. Full jitter spreads the retries of
 * many workers hitting the same sick provider instead of synchronising them.
 */
export function backoffDelayMs(attempt: number, opts: BackoffOptions, random: () => number = Math.random): number {
  const exponent = Math.max(0, Math.floor(attempt) - 1);
  // 2^exponent overflows to Infinity for huge attempts; min() with maxMs keeps it finite.
  const cap = Math.max(0, Math.floor(Math.min(opts.maxMs, opts.baseMs * 2 ** exponent)));
  return Math.floor(random() * (cap + 1));
}

/**
 * Delay before retry `attempt`. A server's Retry-After is a minimum, never shortened: the
 * delay is max(Retry-After, jittered backoff), and maxMs does not cap it (the deadline check
 * decides whether waiting that long is still worth it).
 */
export function retryDelayMs(
  attempt: number,
  retryAfterMs: number | undefined,
  opts: BackoffOptions,
  random: () => number = Math.random,
): number {
  const jittered = backoffDelayMs(attempt, opts, random);
  if (retryAfterMs === undefined || !Number.isFinite(retryAfterMs) || retryAfterMs <= 0) {
    return jittered;
  }
  return Math.max(Math.ceil(retryAfterMs), jittered);
}

/** Whether waiting `delayMs` still leaves `minCallMs` for a call before the deadline. */
export function fitsDeadline(nowMs: number, delayMs: number, deadlineAt: number, minCallMs: number): boolean {
  return nowMs + delayMs + minCallMs <= deadlineAt;
}

export type RetryDecision =
  { retry: true; delayMs: number } | { retry: false; reason: 'not_retryable' | 'exhausted' | 'deadline' };

/**
 * Whether to retry the same deployment after a failure, and after how long. `attempt` is the
 * number of the retry being considered (1 after the first failure). The provider's own word
 * (`shouldRetry`, its `x-should-retry` header) decides over the class, as the OpenAI and Anthropic
 * SDKs let it decide over the status.
 */
export function planRetry(
  failure: { errorClass: ErrorClass; retryAfterMs?: number; shouldRetry?: boolean },
  attempt: number,
  nowMs: number,
  deadlineAt: number,
  opts: RetryOptions,
  random: () => number = Math.random,
): RetryDecision {
  if (!(failure.shouldRetry ?? isRetryableClass(failure.errorClass))) {
    return { retry: false, reason: 'not_retryable' };
  }
  if (attempt > opts.maxRetries) {
    return { retry: false, reason: 'exhausted' };
  }
  const delayMs = retryDelayMs(attempt, failure.retryAfterMs, opts, random);
  if (!fitsDeadline(nowMs, delayMs, deadlineAt, opts.minCallMs)) {
    return { retry: false, reason: 'deadline' };
  }
  return { retry: true, delayMs };
}
