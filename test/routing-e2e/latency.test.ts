import { waitFor } from '@aigw/testing';
import { Redis } from 'ioredis';
import { REDIS_URL } from '../e2e/harness';
import { catalogYaml, chat, routingSystem } from './support';

/** The latency policy ranks by the moving averages the workers keep in Redis. A is cheaper but slow. */
describe('latency policy (e2e)', () => {
  const system = routingSystem({
    simulators: 2,
    catalog: (s) =>
      catalogYaml([
        { id: 'pa', baseUrl: `${s.sims[0].url}/v1`, models: [{ name: 'shared', promptPer1k: 0.001 }] },
        { id: 'pb', baseUrl: `${s.sims[1].url}/v1`, models: [{ name: 'shared', promptPer1k: 0.002 }] },
      ]),
  });
  const provider = async (body: Record<string, unknown>, headers: Record<string, string> = {}) =>
    (await chat(system, body, headers)).headers.get('x-gateway-provider');

  beforeAll(async () => {
    await system.start();
    system.sims[0].configure({ latencyMs: 150 });
  }, 90_000);

  afterAll(() => system.stop(), 30_000);

  it('takes the cheapest while nothing was measured, then the fastest measured one', async () => {
    expect(await provider({ model: 'fastest' })).toBe('pa');
    for (let i = 0; i < 3; i++) {
      expect(await provider({ model: 'pb/shared' })).toBe('pb');
    }
    const redis = new Redis(REDIS_URL);
    try {
      // The workers write their samples in batches: the shared averages lag by up to LATENCY_MAX_DELAY_MS.
      const averages = async (): Promise<Record<string, string>> => redis.hgetall(`${system.prefix}:routing:latency`);
      await waitFor(async () => Object.keys(await averages()).length === 2, { timeoutMs: 5000, intervalMs: 20 });
      const written = await averages();
      const ms = (id: string) => Number(written[id]?.split(':')[0]);
      expect(ms('pa/shared')).toBeGreaterThanOrEqual(150);
      expect(ms('pb/shared')).toBeLessThan(ms('pa/shared'));
    } finally {
      await redis.quit();
    }
    // pa's one sample (from the first request) is slower than pb's.
    expect(await provider({ model: 'shared' }, { 'x-gateway-policy': 'latency' })).toBe('pb');
    expect(await provider({ model: 'fastest' })).toBe('pb');
    expect(await provider({ model: 'shared', policy: 'cost' })).toBe('pa');
  }, 30_000);
});
