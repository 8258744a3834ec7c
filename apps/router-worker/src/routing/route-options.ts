import { routeSupportsParam, type Deployment, type GatewaySpec, type ProviderKind, type Route } from '@aigw/core';
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
  if (viaGateway !== null && direct.target.maxEmbeddingInputs !== undefined) {
    // A gateway (LiteLLM) passes an embeddings request on as it came: the provider behind it still takes no more.
    viaGateway.target.maxEmbeddingInputs = direct.target.maxEmbeddingInputs;
  }
  if (viaGateway !== null && d.provider.kind === 'anthropic') {
    // Claude behind the gateway takes its signed thinking back, its prompt-cache marks, what the client asked of
    // Claude (thinking, a prefill, beta features) in the fields LiteLLM carries them in, and temperature and top_p as
    // Claude takes them (LiteLLM passes both on; newer models refuse both).
    viaGateway.target.signedThinking = true;
    viaGateway.target.cacheMarks = true;
    viaGateway.target.claudeOptions = true;
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

/**
 * Of an `auto` provider's routes, those that honour every provider-dependent field of the request (`params`, see
 * requestNeedsOf), judged by each route's wire (routeSupportsParam): Claude's JSON mode goes through the gateway only.
 * All of them when none does (the catalog changed since the plan: the provider's answer decides).
 */
export function routesCarrying(options: RouteOption[], d: Deployment, params: readonly string[]): RouteOption[] {
  if (options.length < 2 || params.length === 0) {
    return options;
  }
  const carrying = options.filter((o) => params.every((p) => routeSupportsParam(d.provider.kind, o.route, p)));
  return carrying.length === 0 ? options : carrying;
}
