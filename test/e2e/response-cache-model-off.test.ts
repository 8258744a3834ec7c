import { uniqueId, waitFor } from '@aigw/testing';
import { Redis } from 'ioredis';
import { REDIS_URL, TestSystem } from './harness';

/**
 * A model whose catalog `cache.enabled` is false (ADR 0005, per model) has none of its answers cached, also those it
 * gives to an alias: `cheapest` follows the global settings (it may reach any model), and until the worker narrowed
 * the fill by the model that answered, `sim-private`'s answer to `cheapest` was stored for CACHE_TTL_S and served to
 * the next identical request, whose model said no. Likewise an alias's entry stored before an operator turned the
 * model's cache off is no longer served.
 */
describe('response cache: a model whose cache is off, answering an alias (e2e)', () => {
  const system = new TestSystem({
    workers: 1,
    env: { CACHE_ENABLED: 'true', CACHE_TTL_S: '60' },
    catalog: (s) => `providers:
  - id: sim
    kind: openai
    baseUrl: ${s.sim.url}/v1
    apiKey: sk-sim-secret
    timeoutMs: 10000
    models:
      - name: sim-private
        promptPer1k: 0.0001
        completionPer1k: 0.0002
        contextWindow: 8192
        capabilities: [chat, streaming]
        cache: { enabled: false }
      - { name: sim-open, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192, capabilities: [chat, streaming] }
`,
  });
  const redis = new Redis(REDIS_URL);

  beforeAll(() => system.start(), 90_000);

  afterAll(async () => {
    await system.stop();
    await redis.quit();
  }, 30_000);

  function chat(model: string, content: string): Promise<Response> {
    return fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({ model, messages: [{ role: 'user', content }] }),
    });
  }

  /** The answer's `x-gateway-cache` and model, its body read. */
  async function served(res: Response): Promise<{ cache: string | null; model: string | null }> {
    expect(res.status).toBe(200);
    await res.text();
    return { cache: res.headers.get('x-gateway-cache'), model: res.headers.get('x-gateway-model') };
  }

  const entries = async (): Promise<number> => (await redis.keys(`${system.prefix}:cache:*`)).length;
  const calls = (): number => system.sim.stats().total;

  it('an alias answered by a model whose cache is off: the answer is neither stored nor served', async () => {
    const prompt = `private ${uniqueId()}`;
    const before = await entries();
    expect(await served(await chat('cheapest', prompt))).toEqual({ cache: 'miss', model: 'sim-private' });
    expect(await entries()).toBe(before);
    const callsBefore = calls();
    expect(await served(await chat('cheapest', prompt))).toEqual({ cache: 'miss', model: 'sim-private' });
    expect(calls()).toBe(callsBefore + 1);
    // The model named: no lookup at all, as before.
    expect((await served(await chat('sim-private', prompt))).cache).toBe('bypass');
  });

  it("an alias's entry stored before the model's cache was turned off is no longer served", async () => {
    const setCache = async (enabled: boolean): Promise<void> => {
      const res = await fetch(`${system.gatewayUrl}/api/v1/ai/admin/providers/sim/models/sim-private`, {
        method: 'PATCH',
        headers: system.headers(),
        body: JSON.stringify({ cache: { enabled } }),
      });
      expect(res.status).toBe(200);
    };
    /** `cheapest` stores and serves sim-private's answers: the gateway and the worker know its cache is on. */
    const cachedByAlias = async (): Promise<boolean> => {
      const prompt = `probe ${uniqueId()}`;
      await served(await chat('cheapest', prompt));
      return (await served(await chat('cheapest', prompt))).cache === 'hit';
    };
    /** The gateway knows sim-private's cache is off: the model named is not looked up. */
    const offAtGateway = async (): Promise<boolean> =>
      (await served(await chat('sim-private', `probe ${uniqueId()}`))).cache === 'bypass';

    const prompt = `turned off ${uniqueId()}`;
    await setCache(true);
    try {
      await waitFor(cachedByAlias, { timeoutMs: 10_000, message: "the model's cache was never turned on" });
      expect(await served(await chat('cheapest', prompt))).toEqual({ cache: 'miss', model: 'sim-private' });
      expect(await served(await chat('cheapest', prompt))).toEqual({ cache: 'hit', model: 'sim-private' });
    } finally {
      await setCache(false);
    }
    await waitFor(offAtGateway, { timeoutMs: 10_000, message: "the gateway never turned the model's cache off" });
    const callsBefore = calls();
    expect(await served(await chat('cheapest', prompt))).toEqual({ cache: 'miss', model: 'sim-private' });
    expect(calls()).toBe(callsBefore + 1);
  });
});
