import type { Catalog } from '@aigw/core';
import { openAiModelList } from './model-views';

const catalog: Catalog = {
  gateways: [],
  providers: [
    {
      id: 'p1',
      kind: 'openai',
      baseUrl: 'http://internal.example/v1',
      apiKey: 'sk-secret-1',
      enabled: true,
      timeoutMs: 1000,
      maxConnections: 4,
      routing: 'direct',
      models: [
        { name: 'gpt', promptPer1k: 1, completionPer1k: 2, contextWindow: 100, capabilities: ['chat'], enabled: true },
        { name: 'off', promptPer1k: 1, completionPer1k: 2, contextWindow: 100, capabilities: ['chat'], enabled: false },
      ],
    },
    {
      id: 'p2',
      kind: 'anthropic',
      baseUrl: 'http://internal.example',
      apiKey: 'sk-secret-2',
      enabled: true,
      timeoutMs: 1000,
      maxConnections: 4,
      routing: 'direct',
      models: [
        {
          name: 'gpt',
          promptPer1k: 3,
          completionPer1k: 4,
          cachedPromptPer1k: 0.5,
          contextWindow: 200,
          capabilities: ['chat', 'streaming'],
          quality: 0.9,
          enabled: true,
        },
      ],
    },
    {
      id: 'p3',
      kind: 'openai',
      baseUrl: 'http://x',
      enabled: false,
      timeoutMs: 1000,
      maxConnections: 4,
      routing: 'direct',
      models: [
        { name: 'hidden', promptPer1k: 1, completionPer1k: 1, contextWindow: 1, capabilities: [], enabled: true },
      ],
    },
  ],
};

describe('model views', () => {
  it('lists enabled deployments and distinct model names, OpenAI style', () => {
    const created = new Map([
      ['p1/gpt', 42],
      ['p2/gpt', 7],
    ]);
    const list = openAiModelList(catalog, (id) => created.get(id));
    expect(list.data.map((m) => m.id)).toEqual(['p1/gpt', 'p2/gpt', 'gpt']);
    expect(list.data[0]).toEqual({ id: 'p1/gpt', object: 'model', created: 42, owned_by: 'p1' });
    // A model name is as old as its earliest deployment.
    expect(list.data[2]).toEqual({ id: 'gpt', object: 'model', created: 7, owned_by: 'aigw' });
    // Unknown times are 0, never the clock's.
    expect(openAiModelList(catalog, () => undefined).data.map((m) => m.created)).toEqual([0, 0, 0]);
  });

  it('leaves out a model name that a request would take for a provider id (OpenRouter names beside a provider)', () => {
    const provider = catalog.providers[0];
    const withSlashes: Catalog = {
      ...catalog,
      providers: [
        { ...provider, id: 'openai', models: [{ ...provider.models[0], name: 'gpt-4o' }] },
        {
          ...provider,
          id: 'openrouter',
          models: [
            { ...provider.models[0], name: 'openai/gpt-4o' },
            { ...provider.models[0], name: 'openai/o3' },
            { ...provider.models[0], name: 'meta-llama/llama-3-8b' },
          ],
        },
      ],
    };
    const ids = openAiModelList(withSlashes, () => undefined).data.map((m) => m.id);
    expect(ids).toEqual([
      'openai/gpt-4o',
      'openrouter/openai/gpt-4o',
      'openrouter/openai/o3',
      'openrouter/meta-llama/llama-3-8b',
      'gpt-4o',
      'meta-llama/llama-3-8b',
    ]);
  });
});
