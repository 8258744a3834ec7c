import { DEFAULT_CIRCUIT_CONFIG } from '@aigw/core';
import { CircuitBreakerStore, routingKeyPrefix } from '@aigw/routing';
import { Redis } from 'ioredis';
import { GatewayHarness, REDIS_URL } from '../support';
import { audit, call, exportedConfig } from './admin-support';

const P = '/api/v1/ai/admin/providers';
const G = '/api/v1/ai/admin/gateways';
const IMPORT = '/api/v1/ai/admin/config/import';

const model = (name: string) => ({ name, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192 });

/**
 * An import that changes how a provider is called closes its open circuits, as the same change made by a PATCH does:
 * the usual way to mend a provider's URL or key in bulk is export, edit, import, and the mended provider stayed
 * unavailable until CB_OPEN_MS ran out.
 */
describe('admin API: config import and the circuits of the providers it changes', () => {
  const h = new GatewayHarness({ CATALOG_RELOAD_S: '3600' });
  let redis: Redis;
  const circuits = (): CircuitBreakerStore =>
    new CircuitBreakerStore(redis, routingKeyPrefix(h.prefix), { ...DEFAULT_CIRCUIT_CONFIG, failureThreshold: 1 });
  const stateOf = async (id: string): Promise<string> => (await circuits().states([id])).get(id)?.state ?? 'closed';

  beforeAll(async () => {
    await h.start();
    redis = new Redis(REDIS_URL);
  }, 60_000);
  afterAll(async () => {
    await redis?.quit();
    await h.stop();
  }, 30_000);

  it('closes the circuits of a provider whose URL, or whose gateway’s key, the import changes; not of others', async () => {
    const created = [
      await call(h, 'POST', G, { id: 'gw', baseUrl: `${h.sim.url}/v1`, apiKey: 'sk-gw-old' }),
      await call(h, 'POST', P, {
        id: 'mended',
        kind: 'openai',
        baseUrl: 'http://127.0.0.1:9/v1',
        models: [model('m1')],
      }),
      await call(h, 'POST', P, {
        id: 'routed',
        kind: 'openai',
        baseUrl: `${h.sim.url}/v1`,
        routing: 'gateway',
        gatewayId: 'gw',
        models: [model('r1')],
      }),
      await call(h, 'POST', P, { id: 'bystander', kind: 'openai', baseUrl: `${h.sim.url}/v1`, models: [model('b1')] }),
    ];
    expect(created.map((r) => r.status)).toEqual([201, 201, 201, 201]);
    for (const id of ['mended/m1', 'routed/r1', 'bystander/b1']) {
      expect((await circuits().recordFailure(id)).state).toBe('open');
    }

    const doc = await exportedConfig(h);
    doc.providers.find((p) => p.id === 'mended')!.baseUrl = `${h.sim.url}/v1`;
    doc.providers.find((p) => p.id === 'bystander')!.displayName = 'Bystander';
    doc.gateways.find((g) => g.id === 'gw')!.apiKey = 'sk-gw-new';
    const res = await call(h, 'POST', IMPORT, doc);
    expect(res.status).toBe(200);

    expect(await stateOf('mended/m1')).toBe('closed');
    expect(await stateOf('routed/r1')).toBe('closed');
    // Its display name says nothing of how it is called: what its circuit learnt still holds.
    expect(await stateOf('bystander/b1')).toBe('open');
    const [reset] = (await audit(h, 'mended')).filter((a) => a.action === 'circuit.reset');
    expect(reset.after).toMatchObject({ cause: 'config.import' });
    expect((await audit(h, 'bystander')).filter((a) => a.action === 'circuit.reset')).toEqual([]);
  });
});
