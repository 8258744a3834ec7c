import { DEFAULT_CIRCUIT_CONFIG } from '@aigw/core';
import { CircuitBreakerStore, routingKeyPrefix } from '@aigw/routing';
import { Redis } from 'ioredis';
import { GatewayHarness, REDIS_URL } from '../support';
import { audit, call } from './admin-support';

const P = '/api/v1/ai/admin/providers';

interface ResetView {
  provider: string;
  deployments: {
    id: string;
    previousState: string;
    state: string;
    endedCooldown?: { remainingMs: number; status: number };
  }[];
}

/**
 * The admin reset of a deployment that is cooling down (its circuit closed, set aside for the wait a 429, 503 or 529
 * with Retry-After asked for): it ends the cooldown, and says so in its answer and its audit entry. Its states alone
 * (closed -> closed) told a reset that changed nothing, and the reset after a provider change left it unaudited.
 */
describe('admin API: a circuit reset that ends a cooldown', () => {
  const h = new GatewayHarness({ CATALOG_RELOAD_S: '3600' });
  let redis: Redis;
  const circuits = (): CircuitBreakerStore =>
    new CircuitBreakerStore(redis, routingKeyPrefix(h.prefix), DEFAULT_CIRCUIT_CONFIG);

  beforeAll(async () => {
    await h.start();
    redis = new Redis(REDIS_URL);
  }, 60_000);
  afterAll(async () => {
    await redis?.quit();
    await h.stop();
  }, 30_000);

  it('POST …/circuit/reset answers and audits the cooldown it ended', async () => {
    // What a worker writes after a 429 with Retry-After: 30 (by the Redis clock, as in production).
    await circuits().recordCooldown('sim/sim-gpt', null, 30_000, 429);
    expect((await circuits().states(['sim/sim-gpt'])).get('sim/sim-gpt')?.cooldownUntil).toBeDefined();

    const res = await call<ResetView>(h, 'POST', `${P}/sim/circuit/reset`);
    expect(res.status).toBe(200);
    expect(res.body.provider).toBe('sim');
    const [d] = res.body.deployments;
    expect(d).toMatchObject({ id: 'sim/sim-gpt', previousState: 'closed', state: 'closed' });
    expect(d.endedCooldown?.status).toBe(429);
    expect(d.endedCooldown?.remainingMs).toBeGreaterThan(0);
    expect(d.endedCooldown?.remainingMs).toBeLessThanOrEqual(30_000);
    expect((await circuits().states(['sim/sim-gpt'])).get('sim/sim-gpt')?.cooldownUntil).toBeUndefined();

    const [entry] = (await audit(h, 'sim')).filter((a) => a.action === 'circuit.reset');
    expect(entry.before).toEqual({
      deployments: [{ id: 'sim/sim-gpt', state: 'closed', cooldown: d.endedCooldown }],
    });
    expect(entry.after).toEqual({ deployments: [{ id: 'sim/sim-gpt', state: 'closed' }] });

    // A second reset ends nothing: no cooldown reported.
    const again = await call<ResetView>(h, 'POST', `${P}/sim/circuit/reset`);
    expect(again.body.deployments).toEqual([{ id: 'sim/sim-gpt', previousState: 'closed', state: 'closed' }]);
  });

  it('the reset after a provider change audits the cooldown it ended; none when nothing ran', async () => {
    // No circuit open, no cooldown: the change resets nothing worth an entry.
    expect((await call(h, 'PATCH', `${P}/sim-b`, { timeoutMs: 11_000 })).status).toBe(200);
    expect((await audit(h, 'sim-b')).filter((a) => a.action === 'circuit.reset')).toEqual([]);

    await circuits().recordCooldown('sim-b/sim-claude', null, 20_000, 529);
    expect((await call(h, 'PATCH', `${P}/sim-b`, { timeoutMs: 12_000 })).status).toBe(200);
    expect((await circuits().states(['sim-b/sim-claude'])).get('sim-b/sim-claude')?.cooldownUntil).toBeUndefined();
    const entries = (await audit(h, 'sim-b')).filter((a) => a.action === 'circuit.reset');
    expect(entries).toHaveLength(1);
    expect(entries[0].before).toEqual({
      deployments: [
        {
          id: 'sim-b/sim-claude',
          state: 'closed',
          cooldown: { remainingMs: expect.any(Number), status: 529 },
        },
      ],
    });
    expect(entries[0].after).toEqual({
      deployments: [{ id: 'sim-b/sim-claude', state: 'closed' }],
      cause: 'provider.update',
    });
  });
});
