import type { GenerationResult } from '@aigw/core';

/** Fixed-point, so tiny costs do not come out as `1.5e-7`; costs are rounded to 1e-9 upstream. */
export function formatUsd(usd: number): string {
  const fixed = usd.toFixed(9);
  return fixed.includes('.') ? fixed.replace(/\.?0+$/, '') : fixed;
}

/**
 * Where an answer came from: the response cache, a provider after a lookup, a provider without one, or an expired
 * cache entry when every provider failed.
 */
export type CacheStatus = 'hit' | 'miss' | 'bypass' | 'stale';

/** RFC 7234's warning on a stale answer. */
export const STALE_WARNING = { warning: '110 - "Response is Stale"' };

/** What every answer says about where it came from; a stream knows it at its first event, before its cost. */
export interface AnswerHead {
  provider: string;
  model: string;
  attempts: number;
  route: string;
}

/** A header value sent as it is: printable ASCII. */
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/** A lone surrogate (half a UTF-16 pair), which `encodeURIComponent` refuses. */
const LONE_SURROGATE = /\p{Surrogate}/gu;

/**
 * A name from the catalog (a model's: any string, unlike a provider id) as a header value. Node refuses a value with
 * a character above U+00FF or a control character (`ERR_INVALID_CHAR`), and sends U+0080–U+00FF as Latin-1 bytes a
 * client reads in another encoding: a deployment named `deepseek-r1-满血版` made every whole answer of it a bare 500,
 * after the provider had answered (and was paid), and every stream of it an exception that ended the gateway's
 * process with every request it held. A name of printable ASCII (every usual one) goes as it is; another is sent
 * `encodeURIComponent`'d (`decodeURIComponent` reads it back), a lone surrogate as U+FFFD. One regular-expression
 * test per answer.
 */
export function headerValue(name: string): string {
  if (PRINTABLE_ASCII.test(name)) {
    return name;
  }
  return encodeURIComponent(name.replace(LONE_SURROGATE, '\ufffd'));
}

/**
 * The `x-gateway-*` headers, built here for every kind of answer: a stream's when it opens (no cost yet: it is in
 * the final usage event), a whole answer's with its cost. Rate-limit headers are added at admission. The provider
 * id is header-safe by the catalog's rules (`ID_PATTERN`), the route and cache status are the gateway's words; the
 * model name is made so (`headerValue`).
 */
export function gatewayHeaders(head: AnswerHead, cache: CacheStatus, costUsd?: number): Record<string, string> {
  const out: Record<string, string> = {
    'x-gateway-provider': head.provider,
    'x-gateway-model': headerValue(head.model),
    'x-gateway-attempts': String(head.attempts),
    'x-gateway-route': head.route,
    'x-gateway-cache': cache,
  };
  if (costUsd !== undefined) {
    out['x-gateway-cost-usd'] = formatUsd(costUsd);
  }
  return out;
}

/** The `x-gateway-*` headers of an answered request. */
export function resultHeaders(result: GenerationResult, cache: CacheStatus): Record<string, string> {
  // Only the head's fields: spreading the result would copy the whole answer (text, tool calls) per request.
  const head = {
    provider: result.provider,
    model: result.model,
    attempts: result.attempts.length,
    route: result.route,
  };
  return gatewayHeaders(head, cache, result.costUsd);
}
