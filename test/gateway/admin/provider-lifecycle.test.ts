import { DataSource } from 'typeorm';
import { GatewayHarness } from '../support';
import { audit, call } from './admin-support';

const P = '/api/v1/ai/admin/providers';
const G = '/api/v1/ai/admin/gateways';

interface ProviderItem {
  id: string;
  source: string;
  enabled: boolean;
  circuit: string | null;
  circuits: { id: string; state: string }[];
  routeInUse: string;
  quota: unknown;
  models: { name: string; promptPer1k: number }[];
}

/** Admin changes over a provider's life: edits that change nothing. */
describe('admin API: provider lifecycle', () => {
  const h = new GatewayHarness({ CATALOG_RELOAD_S: '3600' });

  beforeAll(() => h.start(), 60_000);
  afterAll(() => h.stop(), 30_000);

  const source = async (id: string): Promise<string> => {
    const rows: { source: string }[] = await h.app
      .get(DataSource)
      .query('SELECT source FROM providers WHERE id = $1', [id]);
    return rows[0].source;
  };
  const listed = async (id: string): Promise<ProviderItem | undefined> =>
    (await call<{ data: ProviderItem[] }>(h, 'GET', P)).body.data.find((p) => p.id === id);

  describe('a PATCH that changes nothing', () => {
    it('answers 200 with the provider as it is: still the file’s, no audit row', async () => {
      const before = await listed('sim');
      expect(before?.source).toBe('file');
      // Every value as it is, the default timeoutMs spelled out and a field cleared that was never set.
      const res = await call<ProviderItem>(h, 'PATCH', `${P}/sim`, {
        kind: 'openai',
        baseUrl: `${h.sim.url}/v1/`,
        timeoutMs: 10000,
        enabled: true,
        displayName: null,
      });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ id: 'sim', source: 'file', timeoutMs: 10000, enabled: true });
      // The same key again changes nothing either.
      const sameKey = await call<ProviderItem>(h, 'PATCH', `${P}/sim`, { apiKey: 'sk-sim-secret-gateway-test' });
      expect([sameKey.status, sameKey.body.source]).toEqual([200, 'file']);
      const sameState = await call<ProviderItem>(h, 'POST', `${P}/sim/toggle`, { enabled: true });
      expect([sameState.status, sameState.body.source]).toEqual([200, 'file']);
      const sameModel = await call<{ id: string; promptPer1k: number }>(h, 'PATCH', `${P}/sim/models/sim-gpt`, {
        promptPer1k: 0.001,
      });
      expect(sameModel.status).toBe(200);
      expect(sameModel.body).toMatchObject({ id: 'sim/sim-gpt', promptPer1k: 0.001 });

      // The next boot's seed still updates it from the catalog file; nothing was audited.
      expect(await source('sim')).toBe('file');
      expect(await audit(h, 'sim')).toEqual([]);
      expect(await audit(h, 'sim/sim-gpt')).toEqual([]);
    });

    it('a real change is still written, marked admin-edited and audited', async () => {
      const res = await call<ProviderItem>(h, 'PATCH', `${P}/sim-b`, { timeoutMs: 9000 });
      expect(res.body).toMatchObject({ timeoutMs: 9000, source: 'admin' });
      expect(await source('sim-b')).toBe('admin');
      expect((await audit(h, 'sim-b')).map((a) => a.action)).toEqual(['provider.update']);
      // Then the same value again: no second row.
      expect((await call(h, 'PATCH', `${P}/sim-b`, { timeoutMs: 9000 })).status).toBe(200);
      expect((await audit(h, 'sim-b')).map((a) => a.action)).toEqual(['provider.update']);
    });

    it('a gateway PATCH that changes nothing writes no audit row', async () => {
      expect((await call(h, 'POST', G, { id: 'still', baseUrl: 'http://127.0.0.1:9' })).status).toBe(201);
      const res = await call<{ source: string }>(h, 'PATCH', `${G}/still`, { baseUrl: 'http://127.0.0.1:9/' });
      expect([res.status, res.body.source]).toEqual([200, 'admin']);
      expect((await audit(h, 'still')).map((a) => a.action)).toEqual(['gateway.create']);
    });
  });
});
