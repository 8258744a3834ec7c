import { randomUUID } from 'node:crypto';
import { sleep, waitFor } from '@aigw/testing';
import { callsTo, catalogYaml, routingSystem } from './support';

const REQUEST_TIMEOUT_MS = 5000;

/**
 * A request whose client leaves, or whose deadline passes, while the worker waits to retry a failed call (a
 * Retry-After): no call may start after that, on the same deployment or another.
 */
describe('a request ended during a retry wait (e2e)', () => {
  const system = routingSystem({
    simulators: 2,
    workers: 1,
    env: {
      ROUTING_DEFAULT_POLICY: 'cost',
      RETRY_MAX: '3',
      RETRY_BASE_MS: '50',
      RETRY_MAX_DELAY_MS: '30000',
      RETRY_MIN_CALL_MS: '500',
      CB_FAILURE_THRESHOLD: '1000',
      CB_MIN_VOLUME: '1000',
    },
    appEnv: { 'api-gateway': { REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS) } },
    catalog: (s) =>
      catalogYaml([
        { id: 'pa', baseUrl: `${s.sims[0].url}/v1`, models: [{ name: 'shared', promptPer1k: 0.001 }] },
        { id: 'pb', baseUrl: `${s.sims[1].url}/v1`, models: [{ name: 'shared', promptPer1k: 0.002 }] },
      ]),
  });
  const [simA, simB] = [() => system.sims[0], () => system.sims[1]];

  beforeAll(async () => {
    await system.start();
  }, 90_000);

  afterAll(() => system.stop(), 30_000);

  beforeEach(() => {
    for (const sim of system.sims) {
      sim.configure({
        failRate: 0,
        failNext: 0,
        failMode: 'status',
        failStatus: [503],
        retryAfterS: null,
        latencyMs: 0,
      });
      sim.reset();
    }
  });

  function send(body: Record<string, unknown>, signal?: AbortSignal, headers: Record<string, string> = {}) {
    return fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...system.headers(), ...headers },
      body: JSON.stringify({ messages: [{ role: 'user', content: `hi ${randomUUID()}` }], ...body }),
      signal,
    });
  }

  it.each([false, true])(
    'a client that leaves during the wait gets no further call (stream: %s)',
    async (stream) => {
      // A 500 asking for 2 s: the only deployment (pinned) is retried after that wait.
      simA().configure({ failRate: 1, retryAfterS: 2 });
      const client = new AbortController();
      const sent = send({ model: 'pa/shared', stream }, client.signal).catch(() => null);
      await waitFor(() => callsTo(simA()) === 1, { message: 'first call not made' });
      await sleep(300);
      client.abort();
      await sent;
      await sleep(3000);
      expect(callsTo(simA())).toBe(1);
      expect(callsTo(simB())).toBe(0);
    },
    20_000,
  );

  it('a client that leaves while the other deployment answers gets no revisit of the deferred one', async () => {
    simA().configure({ failRate: 1, retryAfterS: 2 });
    simB().configure({ failRate: 1, retryAfterS: null, latencyMs: 800 });
    const client = new AbortController();
    const sent = send({ model: 'shared' }, client.signal).catch(() => null);
    await waitFor(() => simB().stats().inFlight === 1, { message: 'B not called' });
    client.abort();
    await sent;
    await sleep(3500);
    expect(callsTo(simA())).toBe(1);
  }, 20_000);

  it("starts no call after the deadline, and answers by it with the providers' envelope", async () => {
    // 503s asking for 2 s: calls at ~0 and ~2 s; one more at ~4 s leaves more than RETRY_MIN_CALL_MS of the 5 s,
    // a fourth at ~6 s would be past the deadline.
    simA().configure({ failRate: 1, retryAfterS: 2 });
    const started = Date.now();
    const res = await send({ model: 'pa/shared' });
    const took = Date.now() - started;
    const body = (await res.json()) as { error: { code: string; type: string; attempts: unknown[] } };
    expect(took).toBeLessThan(REQUEST_TIMEOUT_MS + 500);
    expect(res.status).toBe(503);
    expect(body.error).toMatchObject({ code: 'all_providers_overloaded', type: 'service_unavailable_error' });
    expect(body.error.attempts).toEqual([expect.objectContaining({ provider: 'pa', ok: false, retries: 2 })]);
    // Nothing starts later either (a retry the worker would still make after answering).
    await sleep(Math.max(0, REQUEST_TIMEOUT_MS - took) + 2500);
    const calls = simA()
      .lastRequests(10)
      .map((r) => r.at - started);
    expect(calls).toHaveLength(3);
    expect(calls.every((t) => t < REQUEST_TIMEOUT_MS - 500)).toBe(true);
    expect(callsTo(simB())).toBe(0);
  }, 20_000);

  it('a deferred deployment is not revisited once a hung fallback took the deadline: 504 timeout', async () => {
    // A asks for a 2 s wait (set aside while B may answer); B hangs past the deadline.
    simA().configure({ failRate: 1, retryAfterS: 2 });
    simB().configure({ latencyMs: 20_000 });
    const started = Date.now();
    const res = await send({ model: 'shared' }, undefined, { 'x-gateway-policy': 'cost' });
    const took = Date.now() - started;
    const body = (await res.json()) as { error: { code: string; type: string } };
    expect(res.status).toBe(504);
    expect(body.error).toMatchObject({ code: 'timeout' });
    expect(took).toBeLessThan(REQUEST_TIMEOUT_MS + 1000);
    await sleep(3000);
    // B's call was closed at the deadline; A was never called again.
    expect(simB().stats()).toMatchObject({ inFlight: 0, cancelled: 1 });
    expect(callsTo(simA())).toBe(1);
  }, 20_000);
});
