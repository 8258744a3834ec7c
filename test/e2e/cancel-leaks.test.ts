import { sleep, waitFor } from '@aigw/testing';
import { TestSystem } from './harness';

/** Handles and event listeners of a process, from its /metrics (prom-client's default process metrics). */
async function handlesOf(port: number): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(
    /^(aigw_nodejs_active_(?:handles|requests)_total|aigw_nodejs_heap_size_used_bytes|aigw_nodejs_active_resources_total)(?:\{[^}]*\})? (\S+)$/gm,
  )) {
    out[m[1]] = (out[m[1]] ?? 0) + Number(m[2]);
  }
  return out;
}

/**
 * Many requests whose clients leave (before the provider's first token, mid-stream; chat completions and messages)
 * leave no handle behind in the gateway or the worker, and every provider call they started is closed.
 */
describe('cancelled requests leave nothing behind (e2e)', () => {
  // Four jobs at once per worker: a slot a cancelled job kept would soon leave later requests waiting.
  const system = new TestSystem({ workers: 1, appEnv: { 'router-worker': { WORKER_CONCURRENCY: '4' } } });

  beforeAll(async () => {
    await system.start();
  }, 90_000);

  afterAll(() => system.stop(), 30_000);

  async function leave(model: string, stream: boolean, when: 'before' | 'after'): Promise<void> {
    const client = new AbortController();
    const res = await fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({ model, messages: [{ role: 'user', content: 'long answer' }], stream }),
      signal: client.signal,
    }).catch(() => null);
    if (res !== null && when === 'after') {
      const body = res.body as AsyncIterable<Uint8Array>;
      for await (const _c of body) {
        break;
      }
    }
    client.abort();
  }

  it('keeps handles flat across rounds of cancelled requests', async () => {
    system.sim.configure({ echo: false, completionTokens: 40, chunkDelayMs: 50, latencyMs: 300 });
    const gw = system.apps.find((a) => a.name === 'api-gateway')!;
    const wk = system.apps.find((a) => a.name === 'router-worker')!;
    const round = async (): Promise<void> => {
      for (let i = 0; i < 40; i++) {
        const batch = [
          leave('sim0/sim-gpt', true, 'after'),
          leave('sim0-anthropic/sim-claude', true, 'after'),
          (async () => {
            const c = new AbortController();
            const p = fetch(`${system.gatewayUrl}/v1/chat/completions`, {
              method: 'POST',
              headers: system.headers(),
              body: JSON.stringify({ model: 'sim0/sim-gpt', messages: [{ role: 'user', content: 'x' }] }),
              signal: c.signal,
            }).catch(() => null);
            await sleep(100);
            c.abort();
            await p;
          })(),
          (async () => {
            const c = new AbortController();
            const p = fetch(`${system.gatewayUrl}/v1/messages`, {
              method: 'POST',
              headers: { ...system.headers(), 'anthropic-version': '2023-06-01' },
              body: JSON.stringify({
                model: 'sim0-anthropic/sim-claude',
                max_tokens: 100,
                stream: true,
                messages: [{ role: 'user', content: 'x' }],
              }),
              signal: c.signal,
            }).catch(() => null);
            await sleep(150);
            c.abort();
            await p;
          })(),
        ];
        await Promise.all(batch);
      }
      await waitFor(() => system.sim.stats().inFlight === 0, {
        timeoutMs: 10_000,
        message: 'provider calls still open',
      });
      await sleep(1500);
    };
    await round();
    const g1 = await handlesOf(gw.port);
    const w1 = await handlesOf(wk.port);
    await round();
    await round();
    const g2 = await handlesOf(gw.port);
    const w2 = await handlesOf(wk.port);
    // Every provider call was closed by its cancel, none answered in full for nobody.
    const stats = system.sim.stats();
    expect(stats.cancelled).toBe(stats.total);
    expect(stats.total).toBeGreaterThan(300);
    // 320 more cancelled requests, 240 more provider calls cut: no handle (socket, timer) per request stays behind.
    // A few of slack: the keep-alive sockets of the pools, the metrics scrape's own connection.
    const handles = 'aigw_nodejs_active_handles_total';
    expect(g2[handles] - g1[handles]).toBeLessThanOrEqual(3);
    expect(w2[handles] - w1[handles]).toBeLessThanOrEqual(3);
    // Every worker slot was given back: a request now is answered (with the slots held, it would wait for its deadline).
    system.sim.configure({ latencyMs: 0, chunkDelayMs: 0 });
    const res = await fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({ model: 'sim0/sim-gpt', messages: [{ role: 'user', content: 'after' }] }),
    });
    expect(res.status).toBe(200);
  }, 180_000);
});
