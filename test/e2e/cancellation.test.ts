import { waitFor } from '@aigw/testing';
import { TestSystem } from './harness';

interface UsageRow {
  status: string;
  error_class: string | null;
  error_code: string | null;
  provider: string | null;
  model: string | null;
  prompt_tokens: number;
  completion_tokens: number;
  cost_usd: string;
}

/** A client that goes away cancels the provider call, across every process: gateway -> worker -> provider. */
describe('client disconnect cancels the provider call (e2e)', () => {
  const system = new TestSystem({ workers: 1 });

  beforeAll(async () => {
    await system.start();
  }, 90_000);

  afterAll(() => system.stop(), 30_000);

  /** A streamed chat request for `model`, to be left by aborting `client`. */
  function streamChat(model: string, client: AbortController): Promise<Response> {
    return fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({ model, messages: [{ role: 'user', content: 'long answer' }], stream: true }),
      signal: client.signal,
    });
  }

  /** The usage row of a request, once the usage writer has it. */
  async function usageRowOf(requestId: string | null): Promise<UsageRow> {
    const [row] = await waitFor(
      async () => {
        const rows = await system.query<UsageRow>('SELECT * FROM usage_records WHERE request_id = $1', [requestId]);
        return rows.length > 0 ? rows : null;
      },
      { timeoutMs: 5000, message: 'no usage record for the abandoned stream' },
    );
    return row;
  }

  it('a stream abandoned after its first chunk stops the upstream request', async () => {
    // A slow stream: 32 chunks 150 ms apart would take ~5 s to finish on its own.
    system.sim.configure({ echo: false, completionTokens: 32, chunkDelayMs: 150, latencyMs: 0 });
    system.sim.reset();
    const client = new AbortController();
    const res = await streamChat('sim0/sim-gpt', client);
    expect(res.status).toBe(200);
    // Node's fetch body is a web stream of bytes; typed `any` by @types/node, hence the annotation.
    const body = res.body as AsyncIterable<Uint8Array>;
    for await (const chunk of body) {
      expect(new TextDecoder().decode(chunk)).toContain('data: ');
      break;
    }
    client.abort();
    const requestId = res.headers.get('x-request-id');

    const stats = await waitFor(() => (system.sim.stats().cancelled >= 1 ? system.sim.stats() : null), {
      timeoutMs: 3000,
      message: 'the provider call was not cancelled',
    });
    expect(stats.inFlight).toBe(0);
    expect(stats.byRoute['POST /v1/chat/completions']).toBe(1);

    // What was generated before the client left is billed (providers bill it), under its own error code.
    const row = await usageRowOf(requestId);
    expect(row).toMatchObject({
      status: 'error',
      error_class: 'cancelled',
      error_code: 'client_closed_request',
      provider: 'sim0',
      model: 'sim-gpt',
    });
    expect(row.prompt_tokens).toBeGreaterThan(0);
    expect(row.completion_tokens).toBeGreaterThan(0);
    expect(row.completion_tokens).toBeLessThan(32);
    expect(Number(row.cost_usd)).toBeGreaterThan(0);

    // The worker counts the job as cancelled, not as an error (which error-rate alerts read).
    const worker = system.apps.find((a) => a.name === 'router-worker' || a.name === 'all-in-one')!;
    const cancelled = /^aigw_jobs_total\{queue="generation",name="generate",outcome="cancelled"\} 1$/m;
    const jobs = await waitFor(
      async () => {
        const text = await (await fetch(`http://127.0.0.1:${worker.port}/metrics`)).text();
        return cancelled.test(text) ? text : null;
      },
      { timeoutMs: 5000, message: 'the job was not counted as cancelled' },
    );
    expect(jobs).not.toMatch(/^aigw_jobs_total\{queue="generation",name="generate",outcome="error"\}/m);
  }, 30_000);
  it.each([
    ['an OpenAI-compatible', 'sim0/sim-gpt', 'POST /v1/chat/completions'],
    ['an Anthropic', 'sim0-anthropic/sim-claude', 'POST /v1/messages'],
  ])(
    'bills what %s stream had sent when its client left',
    async (_label, model, route) => {
      system.sim.configure({ echo: false, completionTokens: 40, chunkDelayMs: 60, latencyMs: 0 });
      system.sim.reset();
      const client = new AbortController();
      const res = await streamChat(model, client);
      expect(res.status).toBe(200);
      // About ten content chunks, then the client leaves.
      let text = '';
      const body = res.body as AsyncIterable<Uint8Array>;
      for await (const chunk of body) {
        text += new TextDecoder().decode(chunk);
        if ((text.match(/"content":"[^"]/g) ?? []).length >= 10) {
          break;
        }
      }
      client.abort();
      await waitFor(() => system.sim.stats().cancelled >= 1, { timeoutMs: 3000, message: 'not cancelled' });
      expect(system.sim.stats().byRoute[route]).toBe(1);
      const row = await usageRowOf(res.headers.get('x-request-id'));
      // Claude's message_start says output_tokens: 1; what was streamed counts more.
      expect(row.error_code).toBe('client_closed_request');
      expect(row.completion_tokens).toBeGreaterThanOrEqual(9);
      expect(row.completion_tokens).toBeLessThan(40);
    },
    30_000,
  );

  /** `aigw_requests_total` of the gateway, summed by status. */
  async function requestsByStatus(): Promise<Record<string, number>> {
    const text = await (await fetch(`${system.gatewayUrl}/metrics`)).text();
    const counts: Record<string, number> = {};
    for (const m of text.matchAll(/^aigw_requests_total\{[^}]*status="([^"]+)"[^}]*\} (\S+)$/gm)) {
      counts[m[1]] = (counts[m[1]] ?? 0) + Number(m[2]);
    }
    return counts;
  }

  it('counts a client that left as client_closed_request in aigw_requests_total, never as a timeout', async () => {
    system.sim.configure({ echo: false, completionTokens: 32, chunkDelayMs: 150, latencyMs: 0 });
    system.sim.reset();
    const before = await requestsByStatus();

    // A stream left after its first chunk.
    const streamClient = new AbortController();
    const res = await streamChat('sim0/sim-gpt', streamClient);
    const body = res.body as AsyncIterable<Uint8Array>;
    for await (const _chunk of body) {
      break;
    }
    streamClient.abort();
    await waitFor(() => system.sim.stats().cancelled >= 1 && system.sim.stats().inFlight === 0, {
      timeoutMs: 3000,
      message: 'the stream was not cancelled',
    });
    // A request without stream left while the provider is still answering (it takes 3 s).
    system.sim.configure({ latencyMs: 3000 });
    const syncClient = new AbortController();
    const sync = fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({ model: 'sim0/sim-gpt', messages: [{ role: 'user', content: 'long answer' }] }),
      signal: syncClient.signal,
    }).catch(() => null);
    await waitFor(() => system.sim.stats().inFlight >= 1, { timeoutMs: 3000, message: 'the sync call never started' });
    syncClient.abort();
    await sync;

    const after = await waitFor(
      async () => {
        const counts = await requestsByStatus();
        const left = (counts.client_closed_request ?? 0) - (before.client_closed_request ?? 0);
        return left >= 2 ? counts : null;
      },
      { timeoutMs: 5000, message: 'the clients that left were not counted as client_closed_request' },
    );
    expect((after.client_closed_request ?? 0) - (before.client_closed_request ?? 0)).toBe(2);
    expect(after.timeout ?? 0).toBe(before.timeout ?? 0);
  }, 30_000);
});
