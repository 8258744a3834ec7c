import { waitFor } from '@aigw/testing';
import { TestSystem } from '../e2e/harness';

/**
 * A deployment whose provider's own model list lacks the model (the monitor's probe reads it) is tried after those
 * that serve it: the mark is written with the provider's health and reaches the workers and the gateway with their
 * catalog reload (no query per request). It is not dropped (a server's model list may not name every model it
 * accepts): when nothing else is left it is still called, so `GET /v1/models` still lists it (and retrieves it);
 * the native listing says it is unavailable (`model_unserved`). A later probe that finds the model listed clears
 * the mark.
 *
 * `cheap`'s server lists neither sim-gpt nor ghost but answers any model (as a server whose list is incomplete
 * does); `dear`'s lists sim-gpt.
 */
describe('routing: deployments whose model the provider does not list go last', () => {
  let system: TestSystem;

  beforeAll(async () => {
    system = new TestSystem({
      workers: 1,
      simulators: 2,
      catalog: (s) => {
        s.sims[0].configure({ models: ['sim-claude'] });
        return `providers:
  - id: cheap
    kind: openai
    baseUrl: ${s.sims[0].url}/v1
    healthIntervalS: 1
    models:
      - { name: sim-gpt, promptPer1k: 0.001, completionPer1k: 0.001, contextWindow: 8192 }
      - { name: ghost, promptPer1k: 0.001, completionPer1k: 0.001, contextWindow: 8192 }
  - id: dear
    kind: openai
    baseUrl: ${s.sims[1].url}/v1
    healthIntervalS: 1
    models:
      - { name: sim-gpt, promptPer1k: 0.01, completionPer1k: 0.01, contextWindow: 8192 }
`;
      },
      env: {
        HEALTH_PROBES_ENABLED: 'true',
        CATALOG_RELOAD_S: '1',
        MODELS_STATS_REFRESH_S: '1',
        HEALTH_DISCOVERY_INTERVAL_S: '3600',
      },
    });
    await system.start();
    // Four processes and two simulators: a loaded machine takes a while to start them.
  }, 120_000);

  afterAll(async () => {
    await system?.stop();
  });

  async function answeredBy(model = 'sim-gpt'): Promise<string | null> {
    const res = await fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...system.headers(), 'x-gateway-policy': 'cost' },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
    });
    await res.text();
    expect(res.status).toBe(200);
    return res.headers.get('x-gateway-provider');
  }

  async function openAiIds(): Promise<string[]> {
    const res = await fetch(`${system.gatewayUrl}/v1/models`, { headers: system.headers() });
    expect(res.status).toBe(200);
    return ((await res.json()) as { data: { id: string }[] }).data.map((m) => m.id);
  }

  async function native(): Promise<Map<string, { available: boolean; unavailableReason: string | null }>> {
    const res = await fetch(`${system.gatewayUrl}/api/v1/ai/models`, { headers: system.headers() });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { data: { id: string; available: boolean; unavailableReason: string | null }[] };
    return new Map(body.data.map((d) => [d.id, d]));
  }

  const mark = async (): Promise<unknown> =>
    (await system.query<{ unserved_models: unknown }>(`SELECT unserved_models FROM providers WHERE id = 'cheap'`))[0]
      .unserved_models;

  it('records the mark, routes the serving provider first, still calls the unserved one when nothing else is left', async () => {
    // By upstream name (the catalog reads models by name).
    await waitFor(async () => JSON.stringify(await mark()) === JSON.stringify(['ghost', 'sim-gpt']), {
      timeoutMs: 30_000,
    });
    const dearCalls = () => system.sims[1].stats().byRoute['POST /v1/chat/completions'] ?? 0;
    await waitFor(async () => (await answeredBy()) === 'dear', { timeoutMs: 10_000, intervalMs: 200 });
    // Settled: the cheaper one is not called first any more (each request goes to `dear` on its first attempt).
    const cheapBefore = system.sims[0].stats().byRoute['POST /v1/chat/completions'] ?? 0;
    const dearBefore = dearCalls();
    for (let i = 0; i < 3; i++) {
      expect(await answeredBy()).toBe('dear');
    }
    expect(system.sims[0].stats().byRoute['POST /v1/chat/completions'] ?? 0).toBe(cheapBefore);
    expect(dearCalls()).toBe(dearBefore + 3);
    // Not dropped: the only deployment of `ghost`, and one pinned, are still called.
    expect(await answeredBy('ghost')).toBe('cheap');
    expect(await answeredBy('cheap/sim-gpt')).toBe('cheap');
  });

  async function retrieved(id: string): Promise<number> {
    const res = await fetch(`${system.gatewayUrl}/v1/models/${encodeURIComponent(id)}`, { headers: system.headers() });
    await res.text();
    return res.status;
  }

  it('lists and retrieves what requests are still routed to; the native listing says which are unserved', async () => {
    await waitFor(async () => (await native()).get('cheap/sim-gpt')?.available === false, { timeoutMs: 10_000 });
    // Requests naming them are accepted and routed (above): `GET /v1/models` and `GET /v1/models/{id}` say so, alike.
    const ids = await openAiIds();
    expect(ids).toEqual(expect.arrayContaining(['dear/sim-gpt', 'sim-gpt', 'cheap/sim-gpt', 'cheap/ghost', 'ghost']));
    for (const id of ['cheap/sim-gpt', 'cheap/ghost', 'ghost', 'sim-gpt']) {
      expect({ id, status: await retrieved(id) }).toEqual({ id, status: 200 });
    }
    expect(await retrieved('cheap/nothing')).toBe(404);
    const items = await native();
    expect(items.get('cheap/sim-gpt')).toMatchObject({ available: false, unavailableReason: 'model_unserved' });
    expect(items.get('cheap/ghost')).toMatchObject({ available: false, unavailableReason: 'model_unserved' });
    expect(items.get('dear/sim-gpt')).toMatchObject({ available: true, unavailableReason: null });
  });

  it('clears the mark once a probe finds the model listed: the cheaper provider answers again', async () => {
    system.sims[0].configure({ models: ['sim-gpt', 'ghost'] });
    await waitFor(async () => (await mark()) === null, { timeoutMs: 10_000 });
    await waitFor(async () => (await answeredBy()) === 'cheap', { timeoutMs: 10_000, intervalMs: 200 });
    await waitFor(async () => (await native()).get('cheap/sim-gpt')?.available === true, { timeoutMs: 10_000 });
  });
});
