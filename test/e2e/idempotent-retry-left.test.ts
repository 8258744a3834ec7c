import { randomUUID } from 'node:crypto';
import { sleep, waitFor } from '@aigw/testing';
import { TestSystem } from './harness';

/**
 * A request with an Idempotency-Key whose retries (same key) watch its running job: the job keeps running while any
 * of their clients is there, and is stopped, its provider call closed, once all have left, in whichever order. Before,
 * a retry that left kept its watch (until REQUEST_TIMEOUT_MS), so the first client's departure stopped nothing, and
 * one that left after the first client never stopped it either: the provider generated the whole answer for nobody.
 */
describe('Idempotency-Key retries that leave (e2e)', () => {
  const system = new TestSystem({ workers: 1 });

  beforeAll(async () => {
    await system.start();
  }, 90_000);

  afterAll(() => system.stop(), 30_000);

  function send(key: string, client: AbortController): Promise<unknown> {
    return fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...system.headers(), 'idempotency-key': key },
      body: JSON.stringify({ model: 'sim0/sim-gpt', messages: [{ role: 'user', content: `slow ${key}` }] }),
      signal: client.signal,
    }).catch((err: unknown) => err);
  }

  it.each([
    ['the retry, then the first client', [1, 0]],
    ['the first client, then the retry', [0, 1]],
    ['the first client, then two retries', [0, 2, 1]],
  ])(
    'stops the provider call once all left: %s',
    async (_label, order) => {
      // No call of an earlier case still running.
      await waitFor(() => system.sim.stats().inFlight === 0, { timeoutMs: 10_000, message: 'a call still runs' });
      // A non-streamed answer that takes 6 s.
      system.sim.configure({ echo: true, latencyMs: 6000, chunkDelayMs: 0 });
      system.sim.reset();
      const key = `idem-${randomUUID()}`;
      const clients = order.map(() => new AbortController());
      const sent = [send(key, clients[0])];
      await waitFor(() => system.sim.stats().inFlight === 1, { message: 'the provider was not called' });
      // The retries find the job running and watch it.
      for (const client of clients.slice(1)) {
        sent.push(send(key, client));
      }
      await sleep(500);
      for (const [n, who] of order.entries()) {
        clients[who].abort();
        await sent[who];
        if (n < order.length - 1) {
          // One client is still there: the call goes on.
          await sleep(500);
          expect(system.sim.stats()).toMatchObject({ cancelled: 0, inFlight: 1 });
        }
      }
      await waitFor(() => system.sim.stats().cancelled === 1, {
        timeoutMs: 2500,
        message: 'the provider call went on after every client left',
      });
      expect(system.sim.stats().byRoute['POST /v1/chat/completions']).toBe(1);
    },
    30_000,
  );

  it('stops the provider call of a re-run under the key (its first run was cancelled) when its client leaves', async () => {
    await waitFor(() => system.sim.stats().inFlight === 0, { timeoutMs: 10_000, message: 'a call still runs' });
    system.sim.configure({ echo: true, latencyMs: 6000, chunkDelayMs: 0 });
    system.sim.reset();
    const key = `idem-${randomUUID()}`;
    const first = new AbortController();
    const sentFirst = send(key, first);
    await waitFor(() => system.sim.stats().inFlight === 1, { message: 'the provider was not called' });
    first.abort();
    await sentFirst;
    await waitFor(() => system.sim.stats().cancelled === 1, { timeoutMs: 2500, message: 'the first run went on' });
    // The retry runs the request again (the first run was never carried out), and its client leaves too.
    const again = new AbortController();
    const sentAgain = send(key, again);
    await waitFor(() => system.sim.stats().inFlight === 1, { timeoutMs: 5000, message: 'the re-run made no call' });
    again.abort();
    await sentAgain;
    await waitFor(() => system.sim.stats().cancelled === 2, {
      timeoutMs: 2500,
      message: 'the re-run went on after its client left',
    });
    expect(system.sim.stats().byRoute['POST /v1/chat/completions']).toBe(2);
  }, 30_000);
});
