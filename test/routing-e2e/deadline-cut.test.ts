import { waitFor } from '@aigw/testing';
import { callsTo, catalogYaml, chat, chatStream, counterSum, metricsOf, routingSystem, uniqueText } from './support';

const THRESHOLD = 2;
const REQUEST_TIMEOUT_MS = 3000;
/** The providers' timeout: beyond the request's, so the request deadline always cuts a hung call first. */
const PROVIDER_TIMEOUT_MS = 30_000;

/**
 * A hung provider whose timeout is at least the request timeout: the request deadline cut every call to it, and a
 * cut counted as a cancellation, so its circuit never opened and every request waited for it until its 504. A
 * deadline cut of a call that had no answer for a long time (no response headers, or no first chunk of a stream)
 * now counts as the provider's timeout; a client that leaves still counts for nothing.
 *
 * Simulators: A (pa, cheaper, tried first) and B (pb) serve `shared`; C (pc) alone serves `solo`.
 */
describe('deadline cuts of hung calls (e2e)', () => {
  const system = routingSystem({
    simulators: 3,
    env: {
      ROUTING_DEFAULT_POLICY: 'cost',
      RETRY_MAX: '0',
      CB_FAILURE_THRESHOLD: String(THRESHOLD),
      CB_MIN_VOLUME: '1000',
    },
    appEnv: { 'api-gateway': { REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS) } },
    catalog: (s) =>
      catalogYaml([
        {
          id: 'pa',
          baseUrl: `${s.sims[0].url}/v1`,
          models: [{ name: 'shared', promptPer1k: 0.001 }],
          timeoutMs: PROVIDER_TIMEOUT_MS,
        },
        {
          id: 'pb',
          baseUrl: `${s.sims[1].url}/v1`,
          models: [{ name: 'shared', promptPer1k: 0.002 }],
          timeoutMs: PROVIDER_TIMEOUT_MS,
        },
        {
          id: 'pc',
          baseUrl: `${s.sims[2].url}/v1`,
          models: [{ name: 'solo', promptPer1k: 0.001 }],
          timeoutMs: PROVIDER_TIMEOUT_MS,
        },
      ]),
  });
  const simA = () => system.sims[0];
  const simB = () => system.sims[1];
  const simC = () => system.sims[2];

  async function transitions(deployment: string, from: string, to: string): Promise<number> {
    const texts = await Promise.all(system.workers().map((w) => metricsOf(w)));
    return texts.reduce((sum, t) => sum + counterSum(t, 'aigw_circuit_transitions_total', { deployment, from, to }), 0);
  }

  beforeAll(async () => {
    await system.start();
  }, 90_000);

  afterAll(() => system.stop(), 30_000);

  it('counts a hung call the deadline cut against its circuit: after the threshold, requests go to B', async () => {
    simA().configure({ failRate: 1, failMode: 'hang' });
    simA().reset();
    simB().reset();
    // One call that never answered, one stream that never sent a chunk: each cut by the request's deadline.
    const hung = await chat(system, { model: 'shared' });
    expect(hung.status).toBe(504);
    const stream = await chatStream(system, { model: 'shared' });
    expect(stream.raw).toContain('timeout');
    expect(callsTo(simA())).toBe(THRESHOLD);
    // The gateway answers its 504 at the deadline, the worker records the cut call as it ends: a moment apart.
    await waitFor(async () => (await transitions('pa/shared', 'closed', 'open')) === 1, {
      timeoutMs: 5000,
      message: "the hung calls did not open A's circuit",
    });
    // A is left out now: B answers at once.
    const next = await chat(system, { model: 'shared' });
    expect(next.status).toBe(200);
    expect(next.headers.get('x-gateway-provider')).toBe('pb');
    expect(next.headers.get('x-gateway-attempts')).toBe('1');
    expect(callsTo(simA())).toBe(THRESHOLD);
  }, 60_000);

  it('does not count a call its client left, however long it waited', async () => {
    simC().configure({ failRate: 1, failMode: 'hang' });
    simC().reset();
    for (let i = 0; i < THRESHOLD + 1; i++) {
      const client = new AbortController();
      const sent = fetch(`${system.gatewayUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: system.headers(),
        body: JSON.stringify({ model: 'solo', messages: [{ role: 'user', content: uniqueText('left') }] }),
        signal: client.signal,
      }).catch(() => null);
      await waitFor(() => simC().stats().inFlight === 1, { timeoutMs: 3000, message: 'the call never started' });
      // Past half the request's budget (a deadline cut this late would count), well before the deadline itself.
      await new Promise((r) => setTimeout(r, REQUEST_TIMEOUT_MS * 0.6));
      client.abort();
      await sent;
      // The worker dropped the call because the client left, before the deadline could cut it.
      await waitFor(() => simC().stats().cancelled === i + 1 && simC().stats().inFlight === 0, {
        timeoutMs: REQUEST_TIMEOUT_MS,
        message: 'the worker did not cancel the call',
      });
    }
    expect(await transitions('pc/solo', 'closed', 'open')).toBe(0);
    simC().configure({ failRate: 0 });
    const res = await chat(system, { model: 'solo' });
    expect(res.status).toBe(200);
    expect(callsTo(simC())).toBe(THRESHOLD + 2);
  }, 60_000);
});
