import { waitFor } from '@aigw/testing';
import { TestSystem } from '../e2e/harness';

/**
 * A gateway SIGKILLed while it relays a stream: nobody can hear the rest of the answer, and nobody is left to send
 * the cancel a client's disconnect sends. The worker must notice that the reply channel lost its subscriber, stop the
 * provider call, and settle the run once (one usage row, billed for what was streamed). Split topology: the worker
 * must outlive the gateway.
 */
describe.each([
  ['', 'false'],
  // With the response cache on, the stream is a coalesced job (ADR 0007): mirrored for followers nobody started.
  [', a coalesced one', 'true'],
])('a gateway killed mid-stream%s', (_label, cache) => {
  const sys = new TestSystem({ topology: 'split', workers: 1, env: { CACHE_ENABLED: cache } });

  beforeAll(async () => {
    await sys.start();
  }, 90_000);

  afterAll(() => sys.stop(), 30_000);

  it('stops the provider call of its stream and records its usage once', async () => {
    // 400 chunks 100 ms apart: 40 s on its own; the worker gives its gateway UNHEARD_MS (10 s) to come back.
    sys.sim.configure({ echo: false, completionTokens: 400, chunkDelayMs: 100, latencyMs: 0 });
    sys.sim.reset();
    const gateway = sys.gateways()[0];
    const res = await fetch(`${sys.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: sys.headers(),
      body: JSON.stringify({
        model: 'sim0/sim-gpt',
        messages: [{ role: 'user', content: 'long answer' }],
        stream: true,
      }),
    });
    expect(res.status).toBe(200);
    const requestId = res.headers.get('x-request-id');
    const body = res.body as AsyncIterable<Uint8Array>;
    let text = '';
    for await (const chunk of body) {
      text += new TextDecoder().decode(chunk);
      if ((text.match(/"content":"[^"]/g) ?? []).length >= 3) {
        break;
      }
    }
    gateway.child.kill('SIGKILL');
    await gateway.exited;

    const stats = await waitFor(() => (sys.sim.stats().cancelled >= 1 ? sys.sim.stats() : null), {
      timeoutMs: 25_000,
      message: 'the provider call went on for a stream nobody reads',
    });
    expect(stats.inFlight).toBe(0);
    expect(stats.byRoute['POST /v1/chat/completions']).toBe(1);

    const rows = await waitFor(
      async () => {
        const found = await sys.query<{ status: string; completion_tokens: number }>(
          'SELECT status, completion_tokens FROM usage_records WHERE request_id = $1',
          [requestId],
        );
        return found.length > 0 ? found : null;
      },
      { timeoutMs: 8_000, message: 'no usage row for the stopped stream' },
    );
    expect(rows).toHaveLength(1);
    expect(rows[0].status).toBe('error');
    expect(rows[0].completion_tokens).toBeGreaterThanOrEqual(3);
    expect(rows[0].completion_tokens).toBeLessThan(400);
  }, 60_000);
});
