import { type OutgoingHttpHeaders } from 'node:http';

export interface WireHeaders {
  json: Readonly<OutgoingHttpHeaders>;
  sse: Readonly<OutgoingHttpHeaders>;
  /** Header carrying the request id, as the real provider names it. */
  idHeader: string;
}

/** Static rate-limit headers so adapters that read them have something realistic to parse. */
const RATE_LIMIT: Record<'openai' | 'anthropic', OutgoingHttpHeaders> = {
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

/** Headers every simulator response carries, so nobody mistakes it for a real provider. */
export function simulatorHeaders(name: string): OutgoingHttpHeaders {
  return { 'x-simulator': 'true', 'x-simulator-name': name };
}

export function wireHeaders(name: string, wire: 'openai' | 'anthropic'): WireHeaders {
  const common = { ...simulatorHeaders(name), ...RATE_LIMIT[wire] };
  return {
    json: Object.freeze({ 'content-type': 'application/json', ...common }),
    sse: Object.freeze({ 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...common }),
    idHeader: wire === 'openai' ? 'x-request-id' : 'request-id',
  };
}
