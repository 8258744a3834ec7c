import type { GatewaySpec } from '@aigw/core';
import type { AdapterTarget } from './types';

/**
 * A call through a gateway (an OpenAI-compatible proxy such as LiteLLM) for one upstream model name. The proxy
 * gets the deployment's upstream name (`upstreamName`, else the model name): configure the proxy's model list
 * under that name (LiteLLM `model_name`) and let it map it to its provider. Holds the gateway's key: never log it.
 */
export function gatewayTarget(gateway: GatewaySpec, upstreamModel: string): AdapterTarget {
  const target: AdapterTarget = {
    baseUrl: gateway.baseUrl,
    model: upstreamModel,
    timeoutMs: gateway.timeoutMs,
    // One pool per gateway, shared by every provider routed through it; apart from a provider of the same id (its
    // pool has the provider's own settings).
    poolKey: `gateway:${gateway.id}`,
  };
  if (gateway.apiKey !== undefined) {
    target.apiKey = gateway.apiKey;
  }
  return target;
}
