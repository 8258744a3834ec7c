import type { RouteSuggestion, RoutingMethod } from '@aigw/core';
import type { RouteProbe } from './probe-route';

export interface SuggestionSubject {
  id: string;
  routing: RoutingMethod;
  gatewayId?: string;
}

/**
 * When the direct route fails and the gateway route works, suggest routing the provider through the gateway
 * (a provider on `auto` already falls back per request; pinning it saves the failing direct attempt every
 * time the route memory expires). Undefined otherwise, and for providers already on `gateway`.
 */
export function suggestRoute(provider: SuggestionSubject, routes: readonly RouteProbe[]): RouteSuggestion | undefined {
  const direct = routes.find((r) => r.route === 'direct');
  const gateway = routes.find((r) => r.route === 'gateway');
  if (
    provider.routing === 'gateway' ||
    provider.gatewayId === undefined ||
    direct === undefined ||
    direct.ok ||
    gateway?.ok !== true
  ) {
    return undefined;
  }
  const why = direct.diagnosis === undefined ? 'fails' : `fails (${direct.diagnosis.code})`;
  return {
    code: 'use_gateway',
    message: `route this provider through the gateway: the direct route ${why} while the gateway '${provider.gatewayId}' works`,
    yaml: `routing: gateway\ngateway: ${provider.gatewayId}\n`,
    patch: { routing: 'gateway', gatewayId: provider.gatewayId },
  };
}
