import { DAY_MS, type QuotaSnapshot, type QuotaWindow } from '@aigw/core';
import { headerValue, ietfRateLimit, parseDurationMs, parseRetryAfter, type ResponseHeaders } from './headers';

/** A reset further away than this is garbage, not a window (and past ±8.64e15 ms a Date cannot even show it). */
const MAX_RESET_MS = 366 * DAY_MS;
/** A bare number of "seconds" this large is an epoch time (as some proxies send it), not a wait of 31 years. */
const EPOCH_MS_FROM = 1e12;

/** A count the provider gave: a finite number ≥ 0. Azure's `-1` ("not reported") and junk read as null. */
function amount(headers: ResponseHeaders, name: string): number | null {
  const v = headerValue(headers, name);
  if (v === undefined || v.length === 0) {
    return null;
  }
  const n = Number(v);
  return Number.isFinite(n) && n >= 0 && v.trim() !== '' ? n : null;
}

function plausible(at: number, now: number): number | null {
  return Number.isFinite(at) && Math.abs(at - now) <= MAX_RESET_MS ? at : null;
}

/** OpenAI's Go-style duration (`6m0s`, `20ms`), a number of seconds, an epoch in seconds, else an RFC 3339 time. */
function relativeReset(headers: ResponseHeaders, name: string, now: number): number | null {
  const v = headerValue(headers, name);
  if (v === undefined) {
    return null;
  }
  const ms = parseDurationMs(v);
  if (ms !== undefined) {
    return plausible(ms >= EPOCH_MS_FROM ? ms : now + ms, now);
  }
  return plausible(Date.parse(v), now);
}

/** Anthropic's RFC 3339 instant. */
function instantReset(headers: ResponseHeaders, name: string, now: number): number | null {
  const v = headerValue(headers, name);
  return v === undefined ? null : plausible(Date.parse(v), now);
}

/** The three header names of one window, built once so that reading a response allocates no name. */
interface WindowNames {
  limit: string;
  remaining: string;
  reset: string;
}

const openAiNames = (kind: string): WindowNames => ({
  limit: `x-ratelimit-limit-${kind}`,
  remaining: `x-ratelimit-remaining-${kind}`,
  reset: `x-ratelimit-reset-${kind}`,
});

const anthropicNames = (kind: string): WindowNames => ({
  limit: `anthropic-ratelimit-${kind}-limit`,
  remaining: `anthropic-ratelimit-${kind}-remaining`,
  reset: `anthropic-ratelimit-${kind}-reset`,
});

/** OpenAI, most OpenAI-compatible servers and LiteLLM: resets as durations from now. */
const OPENAI = { requests: openAiNames('requests'), tokens: openAiNames('tokens') };
/** Anthropic: resets as RFC 3339 instants. */
const ANTHROPIC = {
  requests: anthropicNames('requests'),
  tokens: anthropicNames('tokens'),
  inputTokens: anthropicNames('input-tokens'),
  outputTokens: anthropicNames('output-tokens'),
};

function readWindow(
  headers: ResponseHeaders,
  names: WindowNames,
  now: number,
  reset: (headers: ResponseHeaders, name: string, now: number) => number | null,
): QuotaWindow | null {
  const limit = amount(headers, names.limit);
  const remaining = amount(headers, names.remaining);
  return limit === null && remaining === null ? null : { limit, remaining, resetAt: reset(headers, names.reset, now) };
}

/** Share of the window left; unknown counts as plenty. */
function share(w: QuotaWindow): number {
  return w.remaining === null || w.limit === null || w.limit === 0 ? 1 : w.remaining / w.limit;
}

/**
 * Anthropic's `tokens` window is "the most restrictive limit currently in effect"; when only the input and output
 * token windows are sent, the one with the smaller share left stands for it, as Anthropic's own would.
 */
function anthropicTokens(headers: ResponseHeaders, now: number): QuotaWindow | null {
  const combined = readWindow(headers, ANTHROPIC.tokens, now, instantReset);
  if (combined !== null) {
    return combined;
  }
  const input = readWindow(headers, ANTHROPIC.inputTokens, now, instantReset);
  const output = readWindow(headers, ANTHROPIC.outputTokens, now, instantReset);
  if (input === null || output === null) {
    return input ?? output;
  }
  return share(output) < share(input) ? output : input;
}

interface Windows {
  requests: QuotaWindow | null;
  tokens: QuotaWindow | null;
}

const NONE: Readonly<Windows> = Object.freeze({ requests: null, tokens: null });

function windowsOf(headers: ResponseHeaders, now: number): Windows {
  const requests = readWindow(headers, OPENAI.requests, now, relativeReset);
  const tokens = readWindow(headers, OPENAI.tokens, now, relativeReset);
  if (requests !== null || tokens !== null) {
    return { requests, tokens };
  }
  const aRequests = readWindow(headers, ANTHROPIC.requests, now, instantReset);
  const aTokens = anthropicTokens(headers, now);
  if (aRequests !== null || aTokens !== null) {
    return { requests: aRequests, tokens: aTokens };
  }
  if (headers['ratelimit'] === undefined && headers['ratelimit-remaining'] === undefined) {
    return NONE;
  }
  // The IETF draft's `RateLimit` (the HuggingFace router): remaining requests and seconds to the reset.
  const ietf = ietfRateLimit(headers);
  if (ietf?.remainingRequests === undefined) {
    return NONE;
  }
  const reset = ietf.resetRequestsMs;
  return {
    requests: { limit: null, remaining: ietf.remainingRequests, resetAt: reset === undefined ? null : now + reset },
    tokens: null,
  };
}

function spent(w: QuotaWindow | null): boolean {
  return w !== null && w.remaining === 0;
}

/**
 * A 429: something ran out. When a window says which (remaining 0), Retry-After fills the reset it left out;
 * otherwise the requests window is recorded as spent until Retry-After (or its own reset). Figures the 429 did not
 * carry (a bare 429 has no rate-limit headers) are kept from the previous snapshot of the same route.
 */
function rateLimited(w: Windows, headers: ResponseHeaders, now: number, previous: QuotaSnapshot | undefined): Windows {
  const wait = parseRetryAfter(headers, now);
  const retryAt = wait === undefined ? null : plausible(now + wait, now);
  let { requests, tokens } = w;
  if (spent(requests) || spent(tokens)) {
    if (requests !== null && spent(requests) && requests.resetAt === null) {
      requests = { limit: requests.limit, remaining: 0, resetAt: retryAt };
    }
    if (tokens !== null && spent(tokens) && tokens.resetAt === null) {
      tokens = { limit: tokens.limit, remaining: 0, resetAt: retryAt };
    }
  } else {
    requests = {
      limit: requests?.limit ?? previous?.requests?.limit ?? null,
      remaining: 0,
      resetAt: retryAt ?? requests?.resetAt ?? null,
    };
  }
  return { requests, tokens: tokens ?? previous?.tokens ?? null };
}

/**
 * The rate limits a provider response reports, or null when it reports none. Reads the OpenAI-style
 * `x-ratelimit-*` family, else Anthropic's `anthropic-ratelimit-*` (`tokens`, else the tighter of `input-tokens`
 * and `output-tokens`), else the IETF `RateLimit` header; a 429 marks a window spent (see `rateLimited`). Only
 * numbers leave this function: no header text is kept, so nothing a provider put in a header can leak through it.
 * Cheap by design (a dozen property reads when the response has no such headers): it runs on every response.
 */
export function quotaFromResponse(
  status: number,
  headers: ResponseHeaders,
  now: number,
  previous?: QuotaSnapshot,
): QuotaSnapshot | null {
  let w = windowsOf(headers, now);
  if (status === 429) {
    w = rateLimited(w, headers, now, previous);
  }
  return w.requests === null && w.tokens === null ? null : { requests: w.requests, tokens: w.tokens, observedAt: now };
}
