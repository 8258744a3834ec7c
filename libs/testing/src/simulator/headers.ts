import { type OutgoingHttpHeaders } from 'node:http';
import { type SimRateLimit, type SimRateWindow } from './config';
import { type WireName } from './wire';

export interface WireHeaders {
  json: Readonly<OutgoingHttpHeaders>;
  /** Headers of a streamed answer (SSE, or NDJSON for Ollama). */
  sse: Readonly<OutgoingHttpHeaders>;
  /** Header carrying the request id, as the real provider names it; none for providers that send none. */
  idHeader?: string;
}

const CONTENT_TYPES: Record<WireName, { json: string; stream: string }> = {
  openai: { json: 'application/json', stream: 'text/event-stream; charset=utf-8' },
  anthropic: { json: 'application/json', stream: 'text/event-stream; charset=utf-8' },
  gemini: { json: 'application/json; charset=UTF-8', stream: 'text/event-stream' },
  ollama: { json: 'application/json; charset=utf-8', stream: 'application/x-ndjson' },
  tgi: { json: 'application/json', stream: 'text/event-stream' },
};

const ID_HEADERS: Partial<Record<WireName, string>> = { openai: 'x-request-id', anthropic: 'request-id' };

/** TGI's own response headers (its router names the hardware it runs on). */
const EXTRA: Partial<Record<WireName, OutgoingHttpHeaders>> = {
  tgi: { 'x-compute-type': 'simulator' },
};

/** Headers every simulator response carries, so nobody mistakes it for a real provider. */
export function simulatorHeaders(name: string): OutgoingHttpHeaders {
  return { 'x-simulator': 'true', 'x-simulator-name': name };
}

export function wireHeaders(name: string, wire: WireName): WireHeaders {
  const common = { ...simulatorHeaders(name), ...EXTRA[wire] };
  const types = CONTENT_TYPES[wire];
  const headers: WireHeaders = {
    json: Object.freeze({ 'content-type': types.json, ...common }),
    sse: Object.freeze({ 'content-type': types.stream, 'cache-control': 'no-cache', ...common }),
  };
  const idHeader = ID_HEADERS[wire];
  if (idHeader !== undefined) {
    headers.idHeader = idHeader;
  }
  return headers;
}

/** A duration as Go prints it, the way OpenAI sends its resets: `20ms`, `1.5s`, `6m0s`, `1h0m0s`. */
export function goDuration(ms: number): string {
  if (ms < 1000) {
    return `${ms}ms`;
  }
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = (ms % 60_000) / 1000;
  return `${h > 0 ? `${h}h` : ''}${h > 0 || m > 0 ? `${m}m` : ''}${s}s`;
}

/** An RFC 3339 instant to the second (rounded up: the window is full by then), as Anthropic sends its resets. */
function instant(at: number): string {
  return new Date(Math.ceil(at / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

function openAiWindow(out: OutgoingHttpHeaders, kind: string, w: SimRateWindow): void {
  out[`x-ratelimit-limit-${kind}`] = String(w.limit);
  out[`x-ratelimit-remaining-${kind}`] = String(w.remaining);
  out[`x-ratelimit-reset-${kind}`] = goDuration(w.resetMs);
}

function anthropicWindow(out: OutgoingHttpHeaders, kind: string, w: SimRateWindow, now: number): void {
  out[`anthropic-ratelimit-${kind}-limit`] = String(w.limit);
  out[`anthropic-ratelimit-${kind}-remaining`] = String(w.remaining);
  out[`anthropic-ratelimit-${kind}-reset`] = instant(now + w.resetMs);
}

/**
 * The configured rate limits in the wire's own dialect, added to `out`. Gemini, Ollama and a bare TGI send none
 * (Gemini says when to retry in its 429 bodies instead).
 */
export function addRateLimitHeaders(
  out: OutgoingHttpHeaders,
  wire: WireName,
  rl: SimRateLimit | null,
  now: number,
): void {
  if (rl === null || (wire !== 'openai' && wire !== 'anthropic')) {
    return;
  }
  for (const kind of ['requests', 'tokens'] as const) {
    const w = rl[kind] ?? null;
    if (w === null) {
      continue;
    }
    if (wire === 'openai') {
      openAiWindow(out, kind, w);
    } else {
      anthropicWindow(out, kind, w, now);
    }
  }
}
