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

/**
 * The `x-gateway-*` headers, built here for every kind of answer: a stream's when it opens (no cost yet: it is in
 * the final usage event), a whole answer's with its cost. Rate-limit headers are added at admission.
 */
export function gatewayHeaders(head: AnswerHead, cache: CacheStatus, costUsd?: number): Record<string, string> {
  const out: Record<string, string> = {
    'x-gateway-provider': head.provider,
    'x-gateway-model': head.model,
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
