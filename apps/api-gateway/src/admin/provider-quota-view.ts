import type { QuotaSnapshot, QuotaWindow, Route, RoutingMethod } from '@aigw/core';
import type { ProviderQuotas } from '@aigw/routing';
import type { ProviderQuotaDto, QuotaWindowDto } from './provider-quota.dto';

function windowView(w: QuotaWindow | null, now: number): QuotaWindowDto | null {
  if (w === null) {
    return null;
  }
  return {
    limit: w.limit,
    remaining: w.remaining,
    resetAt: w.resetAt === null ? null : new Date(w.resetAt).toISOString(),
    stale: w.resetAt !== null && w.resetAt <= now,
  };
}

function view(s: QuotaSnapshot, route: Route, now: number): ProviderQuotaDto {
  return {
    requests: windowView(s.requests, now),
    tokens: windowView(s.tokens, now),
    observedAt: new Date(s.observedAt).toISOString(),
    route,
  };
}

/**
 * The quota the admin list shows for a provider: the snapshot of the route it uses, among the routes its routing
 * allows (an `auto` provider's other route when only that one was observed); null when none was observed.
 */
export function quotaView(
  quotas: ProviderQuotas | undefined,
  routing: RoutingMethod,
  routeInUse: Route,
  now: number,
): ProviderQuotaDto | null {
  if (quotas === undefined) {
    return null;
  }
  const routes: Route[] = routing === 'auto' ? [routeInUse, routeInUse === 'direct' ? 'gateway' : 'direct'] : [routing];
  for (const route of routes) {
    const s = quotas[route];
    if (s !== undefined) {
      return view(s, route, now);
    }
  }
  return null;
}
