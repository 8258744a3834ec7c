import { HOUR_MS, MINUTE_MS } from '@aigw/core';
import type { RateLimitInfo } from '../types';

/** Response headers as undici gives them: lower-case names, repeated headers as arrays. */
export type ResponseHeaders = Record<string, string | string[] | undefined>;

export function headerValue(headers: ResponseHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * How long the provider asked us to wait, in ms: `retry-after-ms` (OpenAI), else `retry-after` as seconds or as an
 * HTTP date. Undefined when absent or unreadable; never negative.
 */
export function parseRetryAfter(headers: ResponseHeaders, now = Date.now()): number | undefined {
  const ms = headerValue(headers, 'retry-after-ms');
  if (ms !== undefined) {
    const n = Number(ms);
    if (ms.trim() !== '' && Number.isFinite(n) && n >= 0) {
      return Math.ceil(n);
    }
  }
  const ra = headerValue(headers, 'retry-after');
  if (ra === undefined || ra.trim() === '') {
    return undefined;
  }
  const seconds = Number(ra);
  if (Number.isFinite(seconds)) {
    return seconds >= 0 ? Math.ceil(seconds * 1000) : undefined;
  }
  const at = Date.parse(ra);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

const DURATION_PART = /(\d+(?:\.\d+)?)(ms|h|m|s)/y;
const UNIT_MS: Record<string, number> = { h: HOUR_MS, m: MINUTE_MS, s: 1000, ms: 1 };

/** A Go-style duration as OpenAI sends it (`1s`, `6m0s`, `20ms`, `1h2m3.5s`) in ms; a bare number is seconds. */
export function parseDurationMs(text: string): number | undefined {
  const s = text.trim();
  if (s.length === 0) {
    return undefined;
  }
  const bare = Number(s);
  if (Number.isFinite(bare)) {
    return bare >= 0 ? Math.ceil(bare * 1000) : undefined;
  }
  let total = 0;
  DURATION_PART.lastIndex = 0;
  while (DURATION_PART.lastIndex < s.length) {
    const m = DURATION_PART.exec(s);
    if (m === null) {
      return undefined;
    }
    total += Number(m[1]) * UNIT_MS[m[2]];
  }
  return Math.ceil(total);
}

function count(headers: ResponseHeaders, name: string): number | undefined {
  const v = headerValue(headers, name);
  if (v === undefined || v.trim() === '') {
    return undefined;
  }
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

function durationHeader(headers: ResponseHeaders, name: string): number | undefined {
  const v = headerValue(headers, name);
  return v === undefined ? undefined : parseDurationMs(v);
}

function instantHeader(headers: ResponseHeaders, name: string, now: number): number | undefined {
  const v = headerValue(headers, name);
  if (v === undefined) {
    return undefined;
  }
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function compact(info: RateLimitInfo): RateLimitInfo | undefined {
  if (
    info.remainingRequests === undefined &&
    info.remainingTokens === undefined &&
    info.resetRequestsMs === undefined &&
    info.resetTokensMs === undefined
  ) {
    return undefined;
  }
  return info;
}

/** OpenAI-style `x-ratelimit-*` headers (also sent by many compatible servers and proxies). */
export function openAiRateLimit(headers: ResponseHeaders): RateLimitInfo | undefined {
  if (
    headers['x-ratelimit-remaining-requests'] === undefined &&
    headers['x-ratelimit-remaining-tokens'] === undefined
  ) {
    return undefined;
  }
  return compact({
    remainingRequests: count(headers, 'x-ratelimit-remaining-requests'),
    remainingTokens: count(headers, 'x-ratelimit-remaining-tokens'),
    resetRequestsMs: durationHeader(headers, 'x-ratelimit-reset-requests'),
    resetTokensMs: durationHeader(headers, 'x-ratelimit-reset-tokens'),
  });
}

/** Anthropic `anthropic-ratelimit-*` headers; resets are RFC 3339 instants. */
export function anthropicRateLimit(headers: ResponseHeaders, now = Date.now()): RateLimitInfo | undefined {
  if (
    headers['anthropic-ratelimit-requests-remaining'] === undefined &&
    headers['anthropic-ratelimit-tokens-remaining'] === undefined
  ) {
    return undefined;
  }
  return compact({
    remainingRequests: count(headers, 'anthropic-ratelimit-requests-remaining'),
    remainingTokens: count(headers, 'anthropic-ratelimit-tokens-remaining'),
    resetRequestsMs: instantHeader(headers, 'anthropic-ratelimit-requests-reset', now),
    resetTokensMs: instantHeader(headers, 'anthropic-ratelimit-tokens-reset', now),
  });
}

const IETF_ITEM = /;\s*([rt])\s*=\s*(\d+)/g;

/**
 * The IETF `RateLimit` header (draft-ietf-httpapi-ratelimit-headers, as the HuggingFace Hub and router send it:
 * `RateLimit: "api";r=0;t=55`, remaining requests and seconds to reset) or the older draft's separate
 * `RateLimit-Remaining` / `RateLimit-Reset` fields.
 */
export function ietfRateLimit(headers: ResponseHeaders): RateLimitInfo | undefined {
  const combined = headerValue(headers, 'ratelimit');
  if (combined !== undefined) {
    const info: RateLimitInfo = {};
    for (const m of combined.matchAll(IETF_ITEM)) {
      if (m[1] === 'r') {
        info.remainingRequests = Number(m[2]);
      } else {
        info.resetRequestsMs = Number(m[2]) * 1000;
      }
    }
    return compact(info);
  }
  const reset = count(headers, 'ratelimit-reset');
  return compact({
    remainingRequests: count(headers, 'ratelimit-remaining'),
    resetRequestsMs: reset === undefined || reset < 0 ? undefined : reset * 1000,
  });
}

/** Whatever rate-limit headers an OpenAI-compatible server sent: OpenAI's own, else the IETF ones. */
export function anyRateLimit(headers: ResponseHeaders): RateLimitInfo | undefined {
  return openAiRateLimit(headers) ?? ietfRateLimit(headers);
}

/**
 * The `x-should-retry` header (OpenAI and Anthropic send it; their SDKs obey it before their rule by status): true or
 * false when it says so, undefined when absent or anything else.
 */
export function shouldRetryHint(headers: ResponseHeaders): boolean | undefined {
  const v = headerValue(headers, 'x-should-retry')?.trim().toLowerCase();
  return v === 'true' ? true : v === 'false' ? false : undefined;
}

/** A spent window's header names: what is left of it, and when it is full again. */
interface ResetPair {
  remaining: string;
  reset: string;
}

const OPENAI_WINDOWS: readonly ResetPair[] = ['requests', 'tokens'].map((k) => ({
  remaining: `x-ratelimit-remaining-${k}`,
  reset: `x-ratelimit-reset-${k}`,
}));
const ANTHROPIC_WINDOWS: readonly ResetPair[] = ['requests', 'tokens', 'input-tokens', 'output-tokens'].map((k) => ({
  remaining: `anthropic-ratelimit-${k}-remaining`,
  reset: `anthropic-ratelimit-${k}-reset`,
}));

function spentFor(
  headers: ResponseHeaders,
  windows: readonly ResetPair[],
  resetMs: (v: string) => number | undefined,
): number | undefined {
  let wait: number | undefined;
  for (const w of windows) {
    if (count(headers, w.remaining) !== 0) {
      continue;
    }
    const v = headerValue(headers, w.reset);
    const ms = v === undefined ? undefined : resetMs(v);
    if (ms !== undefined && Number.isFinite(ms)) {
      wait = Math.max(wait ?? 0, ms);
    }
  }
  return wait;
}

/**
 * How long until the rate-limit window(s) a 429 ran out of are full again, in ms, from the headers of a provider that
 * sent no Retry-After: OpenAI's `x-ratelimit-reset-{requests,tokens}` (Go durations, `6m0s`, `20ms`) and Anthropic's
 * `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-reset` (RFC 3339 instants), of the windows whose
 * `remaining` is 0 (the longest, when several are: the call needs them all). Undefined when no window says it is spent:
 * the headers then do not say which limit the 429 was for, and the wait stays unnamed. Both providers document the
 * reset as the time until the window is whole again, so it is the longest the wait can be. Failure path only.
 */
export function spentWindowResetMs(headers: ResponseHeaders, now: number): number | undefined {
  return (
    spentFor(headers, OPENAI_WINDOWS, parseDurationMs) ??
    spentFor(headers, ANTHROPIC_WINDOWS, (v) => {
      const at = Date.parse(v);
      return Number.isNaN(at) ? undefined : Math.max(0, at - now);
    })
  );
}
