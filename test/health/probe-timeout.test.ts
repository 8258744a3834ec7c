import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { waitFor } from '@aigw/testing';
import { TestSystem } from '../e2e/harness';

/** A loopback OpenAI-style origin that takes every request and never answers it (a provider stuck behind a hang). */
async function hangingOrigin(): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer(() => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * A probe never runs past its subject's probe interval: the scheduler adds the next probe as one starts, so a probe
 * of a provider that hangs, held to PROBE_TIMEOUT_MS (or the provider's longer `timeoutMs`), ran alongside the next
 * ones (several in flight for one provider, each recorded a timeout later than the interval says).
 */
describe('health monitor: a hanging provider is probed within its interval', () => {
  let system: TestSystem;
  let origin: Awaited<ReturnType<typeof hangingOrigin>>;

  beforeAll(async () => {
    origin = await hangingOrigin();
    system = new TestSystem({
      workers: 0,
      simulators: 0,
      catalog: () => `providers:
  - id: stuck
    kind: openai
    baseUrl: ${origin.url}
    apiKey: sk-stuck
    timeoutMs: 6000
    healthIntervalS: 1
    models:
      - { name: sim-gpt, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192 }
`,
      env: {
        HEALTH_PROBES_ENABLED: 'true',
        HEALTH_INTERVAL_S: '300',
        HEALTH_FAILURE_THRESHOLD: '3',
        HEALTH_DISCOVERY_INTERVAL_S: '3600',
        PROBE_TIMEOUT_MS: '10000',
      },
    });
    await system.start();
  });

  afterAll(async () => {
    await system?.stop();
    await origin?.close();
  });

  it('times each probe out within the 1 s interval: failing after three intervals, not three timeouts', async () => {
    const started = Date.now();
    await waitFor(
      async () =>
        (await system.query(`SELECT 1 FROM providers WHERE id = 'stuck' AND health_status = 'failing'`)).length > 0,
      { timeoutMs: 15_000 },
    );
    // Three failed probes of a 1 s interval, not three 6 s timeouts.
    expect(Date.now() - started).toBeLessThan(5_500);
    const rows = await system.query<{ ok: boolean; latency_ms: number; error_class: string }>(
      `SELECT ok, latency_ms, error_class FROM provider_health_checks WHERE provider_id = 'stuck'`,
    );
    expect(rows.length).toBeGreaterThanOrEqual(3);
    for (const r of rows) {
      expect(r).toMatchObject({ ok: false, error_class: 'timeout' });
      expect(r.latency_ms).toBeLessThan(1_500);
    }
  });
});
