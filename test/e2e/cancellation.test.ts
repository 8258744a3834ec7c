import { waitFor } from '@aigw/testing';
import { TestSystem } from './harness';

/** A client that goes away cancels the provider call, across every process: gateway -> worker -> provider. */
describe('client disconnect cancels the provider call (e2e)', () => {
  const system = new TestSystem({ workers: 1 });

  beforeAll(async () => {
    await system.start();
  }, 90_000);

  afterAll(() => system.stop(), 30_000);

  it('a stream abandoned after its first chunk stops the upstream request', async () => {
    // A slow stream: 32 chunks 150 ms apart would take ~5 s to finish on its own.
    system.sim.configure({ echo: false, completionTokens: 32, chunkDelayMs: 150, latencyMs: 0 });
    system.sim.reset();
    const client = new AbortController();
    const res = await fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({
        model: 'sim0/sim-gpt',
        messages: [{ role: 'user', content: 'long answer' }],
        stream: true,
      }),
      signal: client.signal,
    });
    expect(res.status).toBe(200);
    // Node's fetch body is a web stream of bytes; typed `any` by @types/node, hence the annotation.
    const body = res.body as AsyncIterable<Uint8Array>;
    for await (const chunk of body) {
      expect(new TextDecoder().decode(chunk)).toContain('data: ');
      break;
    }
    client.abort();

    const stats = await waitFor(() => (system.sim.stats().cancelled >= 1 ? system.sim.stats() : null), {
      timeoutMs: 3000,
      message: 'the provider call was not cancelled',
    });
    expect(stats.inFlight).toBe(0);
    expect(stats.byRoute['POST /v1/chat/completions']).toBe(1);
  }, 30_000);
});
