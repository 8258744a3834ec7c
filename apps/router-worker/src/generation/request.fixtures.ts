import type { Deployment, GenerationRequest, ModelSpec, ProviderSpec } from '@aigw/core';

/** Factories for specs: plain data, overridable per test. */
export function providerSpec(overrides: Partial<ProviderSpec> = {}): ProviderSpec {
  return {
    id: 'sim',
    kind: 'openai',
    baseUrl: 'http://127.0.0.1:9/v1',
    apiKey: 'sk-test-secret',
    enabled: true,
    timeoutMs: 5000,
    maxConnections: 8,
    routing: 'direct',
    models: [],
    ...overrides,
  };
}

export function modelSpec(overrides: Partial<ModelSpec> = {}): ModelSpec {
  return {
    name: 'sim-gpt',
    promptPer1k: 0.001,
    completionPer1k: 0.002,
    contextWindow: 8192,
    capabilities: ['chat', 'streaming'],
    enabled: true,
    ...overrides,
  };
}

export function deployment(provider: Partial<ProviderSpec> = {}, model: Partial<ModelSpec> = {}): Deployment {
  const p = providerSpec(provider);
  const m = modelSpec(model);
  return { id: `${p.id}/${m.name}`, provider: p, model: m };
}

export function generationRequest(overrides: Partial<GenerationRequest> = {}): GenerationRequest {
  return {
    requestId: 'req_1',
    model: 'sim-gpt',
    messages: [{ role: 'user', content: 'hello' }],
    options: {},
    stream: false,
    userId: '00000000-0000-4000-8000-000000000001',
    apiKeyId: '00000000-0000-4000-8000-000000000002',
    deadlineAt: 1_700_000_060_000,
    receivedAt: 1_700_000_000_000,
    ...overrides,
  };
}
