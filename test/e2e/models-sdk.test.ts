import OpenAI, { APIError } from 'openai';
import { TestSystem } from './harness';

/**
 * `GET /v1/models` and `GET /v1/models/{id}` with the official OpenAI SDK (v6), for model names that hold slashes as
 * OpenRouter's do (`openai/text-embedding-3-large`). A listed id is one that `model` takes: a model name whose first
 * segment is a provider id resolves to that provider's deployment, never to the name (`resolveModelRef`).
 */
describe('OpenAI SDK: models with slashes in their names (e2e)', () => {
  const system = new TestSystem({
    workers: 1,
    simulators: 2,
    env: { RETRY_MAX: '0' },
    catalog: (s) => `providers:
  - id: openai
    kind: openai
    baseUrl: ${s.sims[0].url}/v1
    apiKey: sk-sim-secret-0
    timeoutMs: 10000
    models:
      - { name: text-embedding-3-small, promptPer1k: 0.00002, completionPer1k: 0, contextWindow: 8192, capabilities: [embeddings] }
  - id: openrouter
    kind: openai
    baseUrl: ${s.sims[1].url}/v1
    apiKey: sk-sim-secret-1
    timeoutMs: 10000
    models:
      - { name: openai/text-embedding-3-small, promptPer1k: 0.00002, completionPer1k: 0, contextWindow: 8192, capabilities: [embeddings] }
      - { name: openai/text-embedding-3-large, promptPer1k: 0.00013, completionPer1k: 0, contextWindow: 8192, capabilities: [embeddings] }
      - { name: meta-llama/llama-3-8b, promptPer1k: 0.0001, completionPer1k: 0.0001, contextWindow: 8192, capabilities: [chat] }
      - { name: 'qwen/qwen3-embedding:8b', promptPer1k: 0.0001, completionPer1k: 0, contextWindow: 8192, capabilities: [embeddings] }
`,
  });
  let client: OpenAI;

  beforeAll(async () => {
    await system.start();
    client = new OpenAI({ baseURL: `${system.gatewayUrl}/v1`, apiKey: system.adminKey, maxRetries: 0 });
  }, 90_000);

  afterAll(async () => {
    await system.stop();
  }, 30_000);

  async function listedIds(): Promise<string[]> {
    const ids: string[] = [];
    for await (const m of client.models.list()) {
      ids.push(m.id);
    }
    return ids;
  }

  it('retrieves a model name with a slash (the SDK sends it encoded) and a deployment id holding two', async () => {
    await expect(client.models.retrieve('meta-llama/llama-3-8b')).resolves.toEqual({
      id: 'meta-llama/llama-3-8b',
      object: 'model',
      created: expect.any(Number) as number,
      owned_by: 'aigw',
    });
    await expect(client.models.retrieve('openrouter/openai/text-embedding-3-large')).resolves.toMatchObject({
      id: 'openrouter/openai/text-embedding-3-large',
      owned_by: 'openrouter',
    });
    // The SDK encodes ':' too (an Ollama-style tag).
    await expect(client.models.retrieve('qwen/qwen3-embedding:8b')).resolves.toMatchObject({
      id: 'qwen/qwen3-embedding:8b',
    });
    const err: unknown = await client.models.retrieve('nobody/nothing').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(APIError);
    expect((err as APIError).status).toBe(404);
    expect((err as APIError).code).toBe('model_not_found');
  });

  it('lists each id once, and only ids that a request can name: every listed model embeds or retrieves', async () => {
    const ids = await listedIds();
    expect(new Set(ids).size).toBe(ids.length);
    // `openai/...` names the provider `openai`: OpenRouter's models of that name are reached by their deployment ids.
    expect([...ids].sort()).toEqual([
      'meta-llama/llama-3-8b',
      'openai/text-embedding-3-small',
      'openrouter/meta-llama/llama-3-8b',
      'openrouter/openai/text-embedding-3-large',
      'openrouter/openai/text-embedding-3-small',
      'openrouter/qwen/qwen3-embedding:8b',
      'qwen/qwen3-embedding:8b',
      'text-embedding-3-small',
    ]);
    // What `model` names is what answers: `openai/...` is the provider `openai`'s deployment, never OpenRouter's.
    const answeredBy: Record<string, string> = {};
    for (const id of ids.filter((i) => i.includes('embedding'))) {
      const res = await client.embeddings.create({ model: id, input: 'listed', encoding_format: 'float' });
      expect(res.data).toHaveLength(1);
      answeredBy[id] = res.model;
    }
    expect(answeredBy).toEqual({
      'openai/text-embedding-3-small': 'openai/text-embedding-3-small',
      'openrouter/openai/text-embedding-3-small': 'openrouter/openai/text-embedding-3-small',
      'openrouter/openai/text-embedding-3-large': 'openrouter/openai/text-embedding-3-large',
      'openrouter/qwen/qwen3-embedding:8b': 'openrouter/qwen/qwen3-embedding:8b',
      'qwen/qwen3-embedding:8b': 'openrouter/qwen/qwen3-embedding:8b',
      'text-embedding-3-small': 'openai/text-embedding-3-small',
    });
    // A name the list does not hold is not retrievable either.
    const err: unknown = await client.models.retrieve('openai/text-embedding-3-large').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(APIError);
    expect((err as APIError).status).toBe(404);
    const retrieved = await client.models.retrieve('openai/text-embedding-3-small');
    expect(retrieved).toMatchObject({ id: 'openai/text-embedding-3-small', owned_by: 'openai' });
  });
});
