import { waitFor } from '@aigw/testing';
import { TestSystem } from '../e2e/harness';

/**
 * A provider the monitor marks failing is tried last by the worker: the status reaches the worker with its catalog
 * reload (no query per request), and the cheaper provider loses its place while failing, then gets it back.
 */
describe('routing: failing providers go to the back of the candidate list', () => {
  let system: TestSystem;

  beforeAll(async () => {
    system = new TestSystem({
      workers: 1,
      simulators: 2,
      catalog: (s) => `providers:
  - id: cheap
    kind: openai
    baseUrl: ${s.sims[0].url}/v1
    models:
      - { name: sim-gpt, promptPer1k: 0.001, completionPer1k: 0.001, contextWindow: 8192 }
  - id: dear
    kind: openai
    baseUrl: ${s.sims[1].url}/v1
    models:
      - { name: sim-gpt, promptPer1k: 0.01, completionPer1k: 0.01, contextWindow: 8192 }
`,
      env: {
        HEALTH_PROBES_ENABLED: 'true',
        CATALOG_RELOAD_S: '1',
        HEALTH_INTERVAL_S: '3600',
        HEALTH_DISCOVERY_INTERVAL_S: '3600',
      },
    });
    await system.start();
    // Let the monitor's first probes land before the test sets a status (they would overwrite it).
    await waitFor(
      async () => (await system.query(`SELECT 1 FROM providers WHERE last_check_at IS NOT NULL`)).length === 2,
      { timeoutMs: 15_000 },
    );
  });

  afterAll(async () => {
    await system?.stop();
  });

  async function answeredBy(): Promise<string | null> {
    const res = await fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...system.headers(), 'x-gateway-policy': 'cost' },
      body: JSON.stringify({ model: 'sim-gpt', messages: [{ role: 'user', content: 'hi' }] }),
    });
    await res.text();
    expect(res.status).toBe(200);
    return res.headers.get('x-gateway-provider');
  }

  it('moves the failing provider behind the others, and back once it is not failing', async () => {
    expect(await answeredBy()).toBe('cheap');
    await system.query(`UPDATE providers SET health_status = 'failing' WHERE id = 'cheap'`);
    await waitFor(async () => (await answeredBy()) === 'dear', { timeoutMs: 10_000, intervalMs: 200 });
    // Still used when nothing else is left: a pinned request reaches it.
    const pinned = await fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({ model: 'cheap/sim-gpt', messages: [{ role: 'user', content: 'hi' }] }),
    });
    await pinned.text();
    expect(pinned.headers.get('x-gateway-provider')).toBe('cheap');
    await system.query(`UPDATE providers SET health_status = 'degraded' WHERE id = 'cheap'`);
    await waitFor(async () => (await answeredBy()) === 'cheap', { timeoutMs: 10_000, intervalMs: 200 });
  });
});
