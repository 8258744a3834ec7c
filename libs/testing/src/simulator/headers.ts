import { type OutgoingHttpHeaders } from 'node:http';
import { type WireName } from './wire';

export interface WireHeaders {
  json: Readonly<OutgoingHttpHeaders>;
  /** Headers of a streamed answer (SSE, or NDJSON for Ollama). */
  sse: Readonly<OutgoingHttpHeaders>;
  /** Header carrying the request id, as the real provider names it; none for providers that send none. */
  idHeader?: string;
}

/**
 * Static rate-limit headers so adapters that read them have something realistic to parse. Gemini, Ollama and a bare
 * TGI send none (Gemini says when to retry in its 429 bodies instead).
 */
const RATE_LIMIT: Partial<Record<WireName, OutgoingHttpHeaders>> = {
  openai: {
    'x-ratelimit-limit-requests': '10000',
    'x-ratelimit-remaining-requests': '9999',
    'x-ratelimit-limit-tokens': '10000000',
    'x-ratelimit-remaining-tokens': '9990000',
  },
  anthropic: {
    'anthropic-ratelimit-requests-limit': '4000',
    'anthropic-ratelimit-requests-remaining': '3999',
    'anthropic-ratelimit-tokens-limit': '400000',
    'anthropic-ratelimit-tokens-remaining': '399000',
  },
};

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
  const common = { ...simulatorHeaders(name), ...RATE_LIMIT[wire], ...EXTRA[wire] };
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
