import { callsTo, catalogYaml, chat, routingSystem } from './support';

const OPEN_S = 20;

/**
 * A provider's Retry-After sets its deployment aside for at most CB_OPEN_MS (a wait of a day, or a wrong one, costs
 * one call per open period), and the client is told the wait that is in force, the same whether its request was the
 * one that met the 429 or one refused during the cooldown. The request that met it was told the provider's own wait
 * (a day here) while every worker called the provider again after CB_OPEN_MS.
 */
describe('a Retry-After of a day (e2e)', () => {
  const system = routingSystem({
    simulators: 1,
    workers: 1,
    env: { RETRY_MAX: '0', CB_OPEN_MS: String(OPEN_S * 1000) },
    catalog: (s) =>
      catalogYaml([{ id: 'pa', baseUrl: `${s.sims[0].url}/v1`, models: [{ name: 'solo', promptPer1k: 0.001 }] }]),
  });

  beforeAll(async () => {
    await system.start();
  }, 90_000);

  afterAll(() => system.stop(), 30_000);

  it('answers the 429 with the cooldown in force (at most CB_OPEN_MS), on the call that met it and after', async () => {
    system.sims[0].configure({ failRate: 1, failStatus: [429], retryAfterS: 86_400 });
    const met = await chat(system, { model: 'pa/solo' });
    expect(met.status).toBe(429);
    expect(met.body.error).toMatchObject({ code: 'provider_rate_limited' });
    expect(callsTo(system.sims[0])).toBe(1);
    const first = Number(met.headers.get('retry-after'));
    expect(first).toBeGreaterThanOrEqual(1);
    expect(first).toBeLessThanOrEqual(OPEN_S);

    // Refused without a call while the cooldown runs: the same wait, a little less of it.
    const refused = await chat(system, { model: 'pa/solo' });
    expect(refused.status).toBe(429);
    expect(callsTo(system.sims[0])).toBe(1);
    const then = Number(refused.headers.get('retry-after'));
    expect(then).toBeGreaterThanOrEqual(1);
    expect(then).toBeLessThanOrEqual(first);
  }, 30_000);
});
