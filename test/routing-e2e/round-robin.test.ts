import { acrossWorkers, callsTo, catalogYaml, chat, pooled, routingSystem } from './support';

const REQUESTS = 60;

/** Spread within ±10% of an even share. */
function expectEven(counts: number[], total: number): void {
  const share = total / counts.length;
  for (const n of counts) {
    expect(n).toBeGreaterThanOrEqual(Math.floor(share * 0.9));
    expect(n).toBeLessThanOrEqual(Math.ceil(share * 1.1));
  }
  expect(counts.reduce((a, b) => a + b, 0)).toBe(total);
}

/** Three deployments of one model, each on its own simulator; the counter lives in Redis, shared by both workers. */
describe('round-robin across two workers (e2e)', () => {
  const system = routingSystem({
    simulators: 3,
    env: {
      ROUTING_DEFAULT_POLICY: 'round-robin',
      RETRY_MAX: '0',
      CB_FAILURE_THRESHOLD: '2',
      CB_MIN_VOLUME: '1000',
      // Stays open for the whole suite.
      CB_OPEN_MS: '600000',
    },
    catalog: (s) =>
      catalogYaml(
        s.sims.map((sim, i) => ({
          id: `p${i}`,
          baseUrl: `${sim.url}/v1`,
          // Different prices: the rotation ignores them.
          models: [{ name: 'rr', promptPer1k: 0.001 * (i + 1) }],
        })),
      ),
  });

  beforeAll(async () => {
    await system.start();
  }, 90_000);

  afterAll(() => system.stop(), 30_000);

  beforeEach(() => {
    for (const sim of system.sims) {
      sim.reset();
    }
  });

  it('spreads requests evenly over the deployments, fleet-wide', async () => {
    const answers = await acrossWorkers(system, REQUESTS, 6, () => chat(system, { model: 'rr' }));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expectEven(
      system.sims.map((s) => callsTo(s)),
      answers.length,
    );
  }, 30_000);

  it('the request policy selects it too, and it skips a deployment whose circuit is open', async () => {
    system.sims[2].configure({ failRate: 1 });
    // Until p2's circuit opens (2 failures), the requests that start at p2 fall back to the next one.
    await pooled(Array.from({ length: 9 }), 1, () => chat(system, { model: 'rr' }));
    expect(callsTo(system.sims[2])).toBe(2);
    for (const sim of system.sims) {
      sim.reset();
    }
    const answers = await pooled(Array.from({ length: REQUESTS }), 6, () =>
      chat(system, { model: 'rr', policy: 'round-robin' }),
    );
    expect(answers.every((a) => a.status === 200 && a.headers.get('x-gateway-attempts') === '1')).toBe(true);
    expect(callsTo(system.sims[2])).toBe(0);
    expectEven([callsTo(system.sims[0]), callsTo(system.sims[1])], REQUESTS);
  }, 30_000);
});
