import { waitFor } from '@aigw/testing';
import { setTimeout as sleep } from 'node:timers/promises';
import { TestSystem } from './harness';

const CHAT = 'POST /v1/chat/completions';

/**
 * A provider switched off and on through the admin API while two router-workers serve traffic: `provider.changed`
 * reaches both, so within a second of the change no request goes to it, and it serves again once back on.
 */
describe('provider toggle reaches every worker (e2e)', () => {
  // sim0 and sim1 both serve `sim-gpt`; round-robin spreads the traffic over them.
  // CATALOG_RELOAD_S is long so that only the control message can explain a prompt reload.
  const system = new TestSystem({
    workers: 2,
    simulators: 2,
    env: { ROUTING_DEFAULT_POLICY: 'round-robin', CATALOG_RELOAD_S: '3600' },
  });

  beforeAll(() => system.start(), 90_000);
  afterAll(() => system.stop(), 30_000);

  const served = (i: number): number => system.sims[i].stats().byRoute[CHAT] ?? 0;

  async function toggle(enabled: boolean): Promise<void> {
    const res = await fetch(`${system.gatewayUrl}/api/v1/ai/admin/providers/sim1/toggle`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({ enabled }),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { enabled: boolean }).enabled).toBe(enabled);
  }

  /** Four clients sending requests one after another until `stop()`; every answer must be a 200. */
  function traffic(): { stop: () => Promise<number[]> } {
    let running = true;
    const statuses: number[] = [];
    const client = async (n: number): Promise<void> => {
      for (let i = 0; running; i++) {
        const res = await fetch(`${system.gatewayUrl}/v1/chat/completions`, {
          method: 'POST',
          headers: system.headers(),
          body: JSON.stringify({ model: 'sim-gpt', messages: [{ role: 'user', content: `client ${n} #${i}` }] }),
        });
        statuses.push(res.status);
        await res.arrayBuffer();
      }
    };
    const clients = Promise.all([0, 1, 2, 3].map(client));
    return {
      stop: async () => {
        running = false;
        await clients;
        return statuses;
      },
    };
  }

  it('no request reaches a provider while it is off; it serves again once on', async () => {
    expect(system.workers()).toHaveLength(2);
    const load = traffic();
    try {
      await waitFor(() => served(0) > 5 && served(1) > 5, { timeoutMs: 15_000, message: 'both sims serve' });

      await toggle(false);
      // Allowance for the change to travel and for requests already at sim1 to finish.
      await sleep(1000);
      const offAt = served(1);
      const sim0Before = served(0);
      await sleep(2000);
      expect(served(1)).toBe(offAt);
      expect(served(0)).toBeGreaterThan(sim0Before + 5);

      await toggle(true);
      await waitFor(() => served(1) > offAt + 5, { timeoutMs: 10_000, message: 'sim1 serves again' });
    } finally {
      const statuses = await load.stop();
      expect(statuses.filter((s) => s !== 200)).toEqual([]);
    }
  }, 60_000);
});
