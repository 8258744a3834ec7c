import type { Deployment, GatewaySpec, ProviderKind, Route } from '@aigw/core';
import type { AdapterTarget } from '@aigw/adapters';
import { targetOf } from '../generation/outcomes';

/** One way to reach a deployment. The target holds a secret: never log it. */
export interface RouteOption {
  route: Route;
  /** Wire format: a gateway always speaks the OpenAI one. */
  kind: ProviderKind;
  target: AdapterTarget;
}

/**
 * The deployment through its provider's gateway (an OpenAI-compatible proxy such as LiteLLM). The proxy
 * gets the deployment's upstream name (`upstreamName`, else the model name): configure the proxy's model
 * list under that name (LiteLLM `model_name`) and let it map it to its provider.
 */
export function gatewayTarget(d: Deployment, gateway: GatewaySpec): AdapterTarget {
  const target: AdapterTarget = {
    baseUrl: gateway.baseUrl,
    model: d.model.upstreamName ?? d.model.name,
    timeoutMs: gateway.timeoutMs,
    // One pool per gateway, shared by every provider routed through it.
    poolKey: gateway.id,
  };
  if (gateway.apiKey !== undefined) {
    target.apiKey = gateway.apiKey;
  }
  return target;
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
    gateway === undefined ? null : { route: 'gateway', kind: 'openai', target: gatewayTarget(d, gateway) };
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
