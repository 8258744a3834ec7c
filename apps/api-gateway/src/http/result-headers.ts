import type { GenerationResult } from '@aigw/core';

/** Fixed-point, so tiny costs do not come out as `1.5e-7`; costs are rounded to 1e-9 upstream. */
export function formatUsd(usd: number): string {
  const fixed = usd.toFixed(9);
  return fixed.includes('.') ? fixed.replace(/\.?0+$/, '') : fixed;
}

/** The `x-gateway-*` headers of an answered request. */
export function resultHeaders(result: GenerationResult): Record<string, string> {
  return {
    'x-gateway-provider': result.provider,
    'x-gateway-model': result.model,
    'x-gateway-attempts': String(result.attempts.length),
    'x-gateway-route': result.route,
    'x-gateway-cache': 'miss',
    'x-gateway-cost-usd': formatUsd(result.costUsd),
  };
}
