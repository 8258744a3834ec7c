import { EMPTY_USAGE, ErrorClass, estimateRequestTokens, ProviderCallError } from '@aigw/core';
import { failedAttempt, resultOf, spentOf, successAttempt, targetOf } from './outcomes';
import { deployment, generationRequest } from './request.fixtures';

describe('targetOf', () => {
  it('sends the upstream name when the model has one, and pools per provider', () => {
    const d = deployment({ id: 'zai', maxConnections: 16 }, { name: 'glm', upstreamName: 'zai/glm-4.6' });
    expect(targetOf(d)).toEqual({
      baseUrl: 'http://127.0.0.1:9/v1',
      apiKey: 'sk-test-secret',
      model: 'zai/glm-4.6',
      timeoutMs: 5000,
      poolKey: 'zai',
      maxConnections: 16,
    });
    expect(targetOf(deployment()).model).toBe('sim-gpt');
    expect(targetOf(deployment())).not.toHaveProperty('healthPath');
  });

  it("carries the provider's healthPath (llama.cpp, vLLM /health) for health checks", () => {
    expect(targetOf(deployment({ id: 'llamacpp', healthPath: '/health' })).healthPath).toBe('/health');
  });
});

describe('attempts', () => {
  it('records a success and a classified failure with its status, route and retries', () => {
    const d = deployment();
    expect(successAttempt(d, 'gateway', 12.34, 2)).toEqual({
      provider: 'sim',
      model: 'sim-gpt',
      route: 'gateway',
      ok: true,
      latencyMs: 12.3,
      retries: 2,
    });
    const err = new ProviderCallError(ErrorClass.Provider, 'upstream said 500', { status: 500 });
    expect(failedAttempt(d, 'direct', err, 5, 0)).toEqual({
      provider: 'sim',
      model: 'sim-gpt',
      route: 'direct',
      ok: false,
      errorClass: 'provider',
      status: 500,
      message: 'upstream said 500',
      latencyMs: 5,
      retries: 0,
    });
  });
});

describe('resultOf', () => {
  it('prices the answer, names the deployment and measures from receipt', () => {
    const request = generationRequest({ receivedAt: 1000 });
    const d = deployment({}, { promptPer1k: 1, completionPer1k: 2, cachedPromptPer1k: 0.5 });
    const attempts = [successAttempt(d, 'gateway', 40, 0)];
    const usage = { promptTokens: 100, completionTokens: 50, totalTokens: 150, cachedPromptTokens: 20 };
    const result = resultOf(
      request,
      {
        deployment: d,
        route: 'gateway',
        answer: { id: 'chatcmpl-1', created: 7, text: 'hi', finishReason: 'stop', usage },
        attempts,
        providerLatencyMs: 40.04,
      },
      1250,
    );
    expect(result).toEqual({
      requestId: 'req_1',
      id: 'chatcmpl-1',
      created: 7,
      text: 'hi',
      finishReason: 'stop',
      provider: 'sim',
      model: 'sim-gpt',
      route: 'gateway',
      usage,
      // (80 * 1 + 20 * 0.5 + 50 * 2) / 1000
      costUsd: 0.19,
      latencyMs: 250,
      providerLatencyMs: 40,
      attempts,
    });
  });
});

describe('spentOf', () => {
  it("bills a cut stream's prompt by the routing estimate, tool definitions included, when the provider said none", () => {
    const tools = [
      {
        type: 'function' as const,
        function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
      },
    ];
    const request = generationRequest({ options: { tools } });
    const partial = { id: 'c', created: 1, text: 'It is', finishReason: null, usage: EMPTY_USAGE };
    const spent = spentOf(deployment(), request, partial);
    expect(spent.usage.promptTokens).toBe(estimateRequestTokens(request.messages, tools));
    expect(spent.usage.promptTokens).toBeGreaterThan(estimateRequestTokens(request.messages, undefined));
  });
});
