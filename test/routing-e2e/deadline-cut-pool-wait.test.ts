import { waitFor } from '@aigw/testing';
import { catalogYaml, chat, counterSum, metricsOf, routingSystem } from './support';

const THRESHOLD = 2;
const REQUEST_TIMEOUT_MS = 6000;
/**
 * The simulator's time to answer: longer than half the request's budget (3 s, the deadline rule's mark here), so a
 * call queued behind it for the provider's one connection has waited past the mark when it is cut, and well under the
 * budget, so the call that holds the connection is answered.
 */
const LATENCY_MS = 3500;

/**
 * The deadline rule (a call the request deadline cut while its provider had not answered for the shorter of its
 * route's timeout and half the request's budget counts as the provider's timeout) counted the time a call waited for
 * a free connection of the provider's pool (`maxConnections`): a provider merely busy on our side, answering every
 * call it had, got its circuit opened. The "no answer" clock now starts when the request is written to the provider.
 *
 * One worker (one pool), one provider with one connection and a slow but healthy simulator.
 */
describe('deadline cuts of calls queued for a connection (e2e)', () => {
  const system = routingSystem({
    workers: 1,
    simulators: 1,
    env: {
      RETRY_MAX: '0',
      CB_FAILURE_THRESHOLD: String(THRESHOLD),
      CB_MIN_VOLUME: '1000',
    },
    appEnv: { 'api-gateway': { REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS) } },
    catalog: (s) =>
      catalogYaml([
        {
          id: 'pq',
          baseUrl: `${s.sims[0].url}/v1`,
          models: [{ name: 'busy', promptPer1k: 0.001 }],
          // Beyond the request's: only the deadline cuts a call here.
          timeoutMs: 30_000,
          maxConnections: 1,
        },
      ]),
  });
  const sim = () => system.sims[0];

  async function workerCount(name: string, labels: Record<string, string>): Promise<number> {
    const texts = await Promise.all(system.workers().map((w) => metricsOf(w)));
    return texts.reduce((sum, t) => sum + counterSum(t, name, labels), 0);
  }

  beforeAll(async () => {
    await system.start();
  }, 90_000);

  afterAll(() => system.stop(), 30_000);

  it("does not open the circuit of a provider whose calls waited for the pool's one connection", async () => {
    sim().configure({ latencyMs: LATENCY_MS });
    sim().reset();
    // Three at once: one holds the connection and is answered, the others wait for it past half their budget (one
    // is then sent, and cut 2.5 s later; one is cut still waiting). Before, both counted as the provider's timeouts.
    const sent = Promise.all([0, 1, 2].map(() => chat(system, { model: 'busy' })));
    await waitFor(() => sim().stats().inFlight === 1, { timeoutMs: 3000, message: 'the first call never started' });
    // The pool's one connection: the two others wait in the worker, the simulator has only the first.
    await new Promise((r) => setTimeout(r, 500));
    expect(sim().stats()).toMatchObject({ total: 1, inFlight: 1 });
    const answers = await sent;
    expect(answers.map((a) => a.status).sort()).toEqual([200, 504, 504]);
    // The gateway answers its 504 at the deadline, the worker records the cut calls as they end: a moment apart.
    await waitFor(async () => (await workerCount('aigw_provider_requests_total', { provider: 'pq' })) === 3, {
      timeoutMs: 5000,
      message: 'the worker did not record the three calls',
    });
    expect(await workerCount('aigw_provider_requests_total', { provider: 'pq', status: 'timeout' })).toBe(0);
    expect(await workerCount('aigw_provider_requests_total', { provider: 'pq', status: 'cancelled' })).toBe(2);
    expect(await workerCount('aigw_circuit_transitions_total', { deployment: 'pq/busy', to: 'open' })).toBe(0);
    // Its circuit is closed: the next request is served by it at once.
    sim().configure({ latencyMs: 0 });
    const next = await chat(system, { model: 'busy' });
    expect(next.status).toBe(200);
    expect(next.headers.get('x-gateway-attempts')).toBe('1');
  }, 60_000);
});
