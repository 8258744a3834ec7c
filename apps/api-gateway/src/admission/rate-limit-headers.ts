import type { RateView } from '@aigw/governance';

/** OpenAI's duration format for `x-ratelimit-reset-*`: `20ms`, `1s`, `6m0s`. */
export function resetDuration(ms: number): string {
  if (ms < 1000) {
    return `${Math.max(0, Math.round(ms))}ms`;
  }
  const s = Math.ceil(ms / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${s % 60}s`;
}

/**
 * OpenAI's rate-limit headers for a request under limits (both twins when both limits apply). Clients such
 * as the OpenAI SDKs read them to pace themselves.
 */
export function rateLimitHeaders(view: RateView): Record<string, string> {
  const out: Record<string, string> = {};
  const reset = resetDuration(view.resetMs);
  if (view.limitRequests !== null) {
    out['x-ratelimit-limit-requests'] = String(view.limitRequests);
    out['x-ratelimit-remaining-requests'] = String(view.remainingRequests ?? 0);
    out['x-ratelimit-reset-requests'] = reset;
  }
  if (view.limitTokens !== null) {
    out['x-ratelimit-limit-tokens'] = String(view.limitTokens);
    out['x-ratelimit-remaining-tokens'] = String(view.remainingTokens ?? 0);
    out['x-ratelimit-reset-tokens'] = reset;
  }
  return out;
}
