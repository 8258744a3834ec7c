import { uniqueId } from '@aigw/testing';
import { TestSystem } from './harness';

/**
 * A client that sends the same `x-request-id` twice (a retry loop, a fixed header) gets two completions with two
 * ids: the completion id is the generation's, never the client's id, whether the provider gives one (the simulator's
 * OpenAI wire) or not (Ollama), streamed or whole, live or served from the cache. The client's id is still echoed.
 */
describe('a reused x-request-id (e2e)', () => {
  const system = new TestSystem({
    topology: 'single',
    env: { CACHE_ENABLED: 'true', CACHE_TTL_S: '60' },
    catalog: (s) => `${s.catalogYaml()}
  - id: ollama
    kind: ollama
    baseUrl: ${s.sim.url}
    timeoutMs: 10000
    models:
      - { name: sim-llama, promptPer1k: 0, completionPer1k: 0, contextWindow: 8192, capabilities: [chat, streaming] }
`,
  });

  beforeAll(() => system.start(), 120_000);
  afterAll(() => system.stop(), 60_000);

  async function ids(
    model: string,
    stream: boolean,
    prompt: string,
    extra: Record<string, string> = {},
  ): Promise<string> {
    const res = await fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...system.headers(), 'x-request-id': 'client-fixed-id-1', ...extra },
      body: JSON.stringify({ model, stream, messages: [{ role: 'user', content: prompt }] }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('client-fixed-id-1');
    const text = await res.text();
    if (!stream) {
      return (JSON.parse(text) as { id: string }).id;
    }
    const found = new Set(
      text
        .split('\n')
        .filter((l) => l.startsWith('data: {'))
        .map((l) => (JSON.parse(l.slice(6)) as { id: string }).id),
    );
    expect(found.size).toBe(1);
    return [...found][0];
  }

  it.each([
    ['sim-gpt', false],
    ['sim-gpt', true],
    ['sim-llama', false],
    ['sim-llama', true],
  ])('%s (stream %p): two completions, two ids, live and from the cache', async (model, stream) => {
    const first = await ids(model, stream, `fresh ${uniqueId()}`);
    const second = await ids(model, stream, `fresh ${uniqueId()}`);
    const prompt = `cached ${uniqueId()}`;
    const live = await ids(model, stream, prompt);
    const hit = await ids(model, stream, prompt);
    const all = [first, second, live, hit];
    expect(new Set(all).size).toBe(4);
    for (const id of all) {
      expect(id).toMatch(/^chatcmpl-/);
      expect(id).not.toContain('client-fixed-id-1');
    }
  });

  it('an Idempotency-Key replay is the same completion (same id); another key under the same x-request-id is not', async () => {
    const prompt = `idem ${uniqueId()}`;
    const key = { 'idempotency-key': `k-${uniqueId()}`, 'cache-control': 'no-store' };
    const first = await ids('sim-llama', false, prompt, key);
    expect(await ids('sim-llama', false, prompt, key)).toBe(first);
    const other = await ids('sim-llama', false, prompt, { ...key, 'idempotency-key': `k-${uniqueId()}` });
    expect(other).not.toBe(first);
  });

  it('/v1/messages gives each its own message id', async () => {
    const ask = async (): Promise<string> => {
      const res = await fetch(`${system.gatewayUrl}/v1/messages`, {
        method: 'POST',
        headers: { ...system.headers(), 'x-request-id': 'client-fixed-id-1', 'anthropic-version': '2023-06-01' },
        body: JSON.stringify({
          model: 'sim-llama',
          max_tokens: 20,
          messages: [{ role: 'user', content: `m ${uniqueId()}` }],
        }),
      });
      expect(res.status).toBe(200);
      return ((await res.json()) as { id: string }).id;
    };
    const [a, b] = [await ask(), await ask()];
    expect(a).toMatch(/^msg_/);
    expect(a).not.toBe(b);
  });
});
