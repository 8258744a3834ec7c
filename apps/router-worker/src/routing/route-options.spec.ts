import type { GatewaySpec } from '@aigw/core';
import { deployment } from '../generation/request.fixtures';
import { routeOptions, routesCarrying } from './route-options';

const litellm: GatewaySpec = {
  id: 'litellm',
  baseUrl: 'http://127.0.0.1:4000/v1',
  apiKey: 'sk-gw-key',
  timeoutMs: 7000,
};

describe('routeOptions', () => {
  it("gives both routes the provider's embeddings batch limit: its own setting, else its family's", () => {
    const tei = deployment({ kind: 'openai', routing: 'auto', gateway: 'litellm', maxEmbeddingInputs: 32 });
    expect(routeOptions(tei, [litellm], null).map((o) => o.target.maxEmbeddingInputs)).toEqual([32, 32]);
    const gemini = deployment({ kind: 'gemini', routing: 'direct' });
    expect(routeOptions(gemini, [], null)[0].target.maxEmbeddingInputs).toBe(100);
    const vllm = deployment({ kind: 'openai', routing: 'direct', baseUrl: 'http://127.0.0.1:8000/v1' });
    expect(routeOptions(vllm, [], null)[0].target).not.toHaveProperty('maxEmbeddingInputs');
  });

  it('calls a direct provider with its own target and wire format', () => {
    const d = deployment({ kind: 'anthropic', routing: 'direct', gateway: 'litellm' });
    const [only, ...rest] = routeOptions(d, [litellm], 'gateway');
    expect(rest).toEqual([]);
    expect(only).toMatchObject({ route: 'direct', kind: 'anthropic', target: { baseUrl: 'http://127.0.0.1:9/v1' } });
  });

  it("sends a gateway provider through the proxy's URL, key and timeout, as OpenAI, with the upstream name", () => {
    const d = deployment(
      { id: 'zai', kind: 'anthropic', routing: 'gateway', gateway: 'litellm', maxConnections: 3 },
      { name: 'glm', upstreamName: 'glm-4.6' },
    );
    expect(routeOptions(d, [litellm], null)).toEqual([
      {
        route: 'gateway',
        kind: 'openai',
        target: {
          baseUrl: 'http://127.0.0.1:4000/v1',
          apiKey: 'sk-gw-key',
          model: 'glm-4.6',
          timeoutMs: 7000,
          poolKey: 'gateway:litellm',
          // An Anthropic-API deployment behind the proxy takes its signed thinking back (LiteLLM's thinking_blocks),
          // its prompt-cache marks (LiteLLM passes cache_control on to Claude), what the client asked of Claude
          // (`thinking`, a prefill's `prefix: true`, the anthropic-beta header), and temperature and top_p as Claude
          // takes them (LiteLLM passes both on).
          signedThinking: true,
          cacheMarks: true,
          claudeOptions: true,
        },
      },
    ]);
    const openai = deployment({ id: 'oa', kind: 'openai', routing: 'gateway', gateway: 'litellm' });
    expect(routeOptions(openai, [litellm], null)[0].target).not.toHaveProperty('signedThinking');
    expect(routeOptions(openai, [litellm], null)[0].target).not.toHaveProperty('cacheMarks');
    expect(routeOptions(openai, [litellm], null)[0].target).not.toHaveProperty('claudeOptions');
  });

  it("gives the direct target the provider's healthPath, never the proxy's", () => {
    const d = deployment({ id: 'llamacpp', routing: 'auto', gateway: 'litellm', healthPath: '/health' });
    const [direct, viaGateway] = routeOptions(d, [litellm], null);
    expect(direct.target.healthPath).toBe('/health');
    expect(viaGateway.target).not.toHaveProperty('healthPath');
  });

  it('has no route for a gateway provider whose gateway is missing', () => {
    expect(routeOptions(deployment({ routing: 'gateway', gateway: 'gone' }), [litellm], null)).toEqual([]);
  });

  it('tries direct first for auto, unless the gateway is what worked last', () => {
    const d = deployment({ routing: 'auto', gateway: 'litellm' });
    expect(routeOptions(d, [litellm], null).map((o) => o.route)).toEqual(['direct', 'gateway']);
    expect(routeOptions(d, [litellm], 'direct').map((o) => o.route)).toEqual(['direct', 'gateway']);
    expect(routeOptions(d, [litellm], 'gateway').map((o) => o.route)).toEqual(['gateway', 'direct']);
    expect(routeOptions(d, [], 'gateway').map((o) => o.route)).toEqual(['direct']);
  });

  it('sends no key to a gateway configured without one', () => {
    const d = deployment({ routing: 'gateway', gateway: 'open' });
    const [option] = routeOptions(d, [{ id: 'open', baseUrl: 'http://127.0.0.1:4001/v1', timeoutMs: 1000 }], null);
    expect(option.target).not.toHaveProperty('apiKey');
  });

  it("takes an auto Claude provider's gateway route only for a field only the gateway carries (JSON mode)", () => {
    const d = deployment({ kind: 'anthropic', routing: 'auto', gateway: 'litellm' });
    const both = routeOptions(d, [litellm], null);
    expect(routesCarrying(both, d, ['response_format']).map((o) => o.route)).toEqual(['gateway']);
    expect(routesCarrying(both, d, ['top_k']).map((o) => o.route)).toEqual(['direct', 'gateway']);
    expect(routesCarrying(both, d, []).map((o) => o.route)).toEqual(['direct', 'gateway']);
    // Neither carries it (the catalog changed since the plan): both are tried, the provider's answer decides.
    expect(routesCarrying(both, d, ['logit_bias']).map((o) => o.route)).toEqual(['direct', 'gateway']);
  });
});
