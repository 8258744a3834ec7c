import type { Deployment, GatewaySpec, ProviderKind, Route } from '@aigw/core';
import { gatewayTarget, type AdapterTarget } from '@aigw/adapters';
import { targetOf } from '../generation/outcomes';

/** One way to reach a deployment. The target holds a secret: never log it. */
export interface RouteOption {
  route: Route;
  /** Wire format: a gateway always speaks the OpenAI one. */
  kind: ProviderKind;
  target: AdapterTarget;
}

/**
 * The routes to try for a deployment, in order. `direct` and `gateway` providers have one; `auto` ones try
 * the route that worked last (remembered fleet-wide) first, else direct, and switch to the other on a
 * network-class failure. Empty when the provider must go through a gateway the catalog does not hold.
 */
export function routeOptions(d: Deployment, gateways: readonly GatewaySpec[], remembered: Route | null): RouteOption[] {
  const direct: RouteOption = { route: 'direct', kind: d.provider.kind, target: targetOf(d) };
  const gateway = gateways.find((g) => g.id === d.provider.gateway);
  const viaGateway: RouteOption | null =
    gateway === undefined
      ? null
      : { route: 'gateway', kind: 'openai', target: gatewayTarget(gateway, d.model.upstreamName ?? d.model.name) };
  if (viaGateway !== null && d.provider.kind === 'anthropic') {
    // Claude behind the gateway takes its signed thinking back and its prompt-cache marks, as LiteLLM carries both.
    viaGateway.target.signedThinking = true;
    viaGateway.target.cacheMarks = true;
  }
  switch (d.provider.routing) {
    case 'direct':
      return [direct];
    case 'gateway':
      return viaGateway === null ? [] : [viaGateway];
    case 'auto':
      if (viaGateway === null) {
        return [direct];
      }
      return remembered === 'gateway' ? [viaGateway, direct] : [direct, viaGateway];
  }
}
