import { DEFAULT_CIRCUIT_CONFIG } from '@aigw/core';
import {
  CircuitBreakerStore,
  LatencyTracker,
  ProviderQuotaStore,
  RouteMemory,
  firstChunkLatencyPrefix,
  routingKeyPrefix,
} from '@aigw/routing';
import { randomBytes } from 'node:crypto';
import { SecretBox } from '@aigw/entities';
import { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { GatewayHarness, REDIS_URL } from '../support';
import { audit, call, exportedConfig } from './admin-support';

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

const model = (name: string) => ({ name, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192 });

/** Admin changes over a provider's life: edits that change nothing, and what a deletion leaves behind in Redis. */
describe('admin API: provider lifecycle', () => {
  const h = new GatewayHarness({ CATALOG_RELOAD_S: '3600' });
  let redis: Redis;

  beforeAll(async () => {
    await h.start();
    redis = new Redis(REDIS_URL);
  }, 60_000);
  afterAll(async () => {
    await redis?.quit();
    await h.stop();
  }, 30_000);

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

    it('apiKey: null still removes a stored key this process cannot open (sealed under another SECRETS_KEY)', async () => {
      expect(
        (await call(h, 'POST', P, { id: 'sealed', kind: 'openai', baseUrl: 'http://127.0.0.1:9', apiKey: 'sk-a' }))
          .status,
      ).toBe(201);
      const db = h.app.get(DataSource);
      const elsewhere = SecretBox.fromKey(randomBytes(32).toString('base64')).encrypt('sk-sealed-elsewhere');
      await db.query('UPDATE providers SET encrypted_secret = $1 WHERE id = $2', [elsewhere, 'sealed']);
      // The admin API reads that key as none; clearing it must still write.
      const res = await call<ProviderItem>(h, 'PATCH', `${P}/sealed`, { apiKey: null });
      expect(res.status).toBe(200);
      const rows: { encrypted_secret: string | null }[] = await db.query(
        'SELECT encrypted_secret FROM providers WHERE id = $1',
        ['sealed'],
      );
      expect(rows).toEqual([{ encrypted_secret: null }]);
      expect((await call(h, 'DELETE', `${P}/sealed`)).status).toBe(200);
    });

    it('a gateway PATCH that changes nothing writes no audit row', async () => {
      expect((await call(h, 'POST', G, { id: 'still', baseUrl: 'http://127.0.0.1:9' })).status).toBe(201);
      const res = await call<{ source: string }>(h, 'PATCH', `${G}/still`, { baseUrl: 'http://127.0.0.1:9/' });
      expect([res.status, res.body.source]).toEqual([200, 'admin']);
      expect((await audit(h, 'still')).map((a) => a.action)).toEqual(['gateway.create']);
    });
  });

  describe('deleting a provider or a model', () => {
    const prefix = (): string => routingKeyPrefix(h.prefix);
    const circuits = (): CircuitBreakerStore =>
      new CircuitBreakerStore(redis, prefix(), { ...DEFAULT_CIRCUIT_CONFIG, failureThreshold: 1 });
    const latency = (stream: boolean): LatencyTracker =>
      new LatencyTracker(redis, stream ? firstChunkLatencyPrefix(prefix()) : prefix(), { alpha: 0.3 });

    /** What workers leave in Redis after calling a deployment that failed: an open circuit, latency, quota, route. */
    const learn = async (providerId: string, deploymentIds: string[]): Promise<void> => {
      for (const id of deploymentIds) {
        expect((await circuits().recordFailure(id)).state).toBe('open');
        await latency(false).record(id, 1234);
        await latency(true).record(id, 321);
      }
      await new RouteMemory(redis, prefix()).set(providerId, 'gateway');
      const snapshot = {
        requests: { limit: 10, remaining: 0, resetAt: Date.now() + 60_000 },
        tokens: null,
        observedAt: Date.now(),
      };
      await new ProviderQuotaStore(redis, h.prefix).write([
        { providerId, route: 'direct', snapshot },
        { providerId, route: 'gateway', snapshot },
      ]);
    };
    const keysOf = async (providerId: string): Promise<string[]> =>
      (await redis.keys(`${prefix()}*${providerId}*`)).sort();

    it('forgets its circuits, latency, route and rate limits: the same id re-created starts afresh', async () => {
      const body = {
        id: 'phoenix',
        kind: 'openai',
        baseUrl: `${h.sim.url}/v1`,
        routing: 'auto',
        gateway: 'still',
        models: [model('p1'), model('p2')],
      };
      expect((await call(h, 'POST', P, body)).status).toBe(201);
      await learn('phoenix', ['phoenix/p1', 'phoenix/p2']);
      expect(await listed('phoenix')).toMatchObject({
        circuit: 'open',
        routeInUse: 'gateway',
        quota: expect.anything(),
      });
      expect((await keysOf('phoenix')).length).toBeGreaterThanOrEqual(3);

      expect((await call(h, 'DELETE', `${P}/phoenix`)).status).toBe(200);
      expect(await keysOf('phoenix')).toEqual([]);
      for (const stream of [false, true]) {
        expect((await latency(stream).get(['phoenix/p1', 'phoenix/p2'])).size).toBe(0);
      }
      expect((await new ProviderQuotaStore(redis, h.prefix).readAll()).has('phoenix')).toBe(false);

      expect((await call(h, 'POST', P, body)).status).toBe(201);
      expect(await listed('phoenix')).toMatchObject({
        circuit: 'closed',
        circuits: [
          { id: 'phoenix/p1', state: 'closed' },
          { id: 'phoenix/p2', state: 'closed' },
        ],
        routeInUse: 'direct',
        quota: null,
      });
    });

    it("deleting a model forgets that deployment's circuit and latency only", async () => {
      await learn('phoenix', ['phoenix/p1', 'phoenix/p2']);
      expect((await call(h, 'DELETE', `${P}/phoenix/models/p1`)).status).toBe(200);
      const states = await circuits().states(['phoenix/p1', 'phoenix/p2']);
      expect(states.get('phoenix/p1')?.state ?? 'closed').toBe('closed');
      expect(await redis.exists(`${prefix()}cb:{phoenix/p1}`)).toBe(0);
      expect(states.get('phoenix/p2')?.state).toBe('open');
      expect([...(await latency(false).get(['phoenix/p1', 'phoenix/p2'])).keys()]).toEqual(['phoenix/p2']);
      // The provider itself stays: its route and rate limits are kept.
      expect((await listed('phoenix'))?.routeInUse).toBe('gateway');

      expect((await call(h, 'POST', `${P}/phoenix/models`, model('p1'))).status).toBe(201);
      expect((await listed('phoenix'))?.circuits).toEqual([
        { id: 'phoenix/p1', state: 'closed', cooldownUntil: null },
        { id: 'phoenix/p2', state: 'open', cooldownUntil: null },
      ]);
    });

    it('an import that removes a provider forgets it too', async () => {
      await learn('phoenix', ['phoenix/p1']);
      const config = await exportedConfig(h);
      const res = await call(h, 'POST', '/api/v1/ai/admin/config/import', {
        ...config,
        providers: config.providers.filter((p) => p.id !== 'phoenix'),
      });
      expect(res.status).toBe(200);
      expect(await keysOf('phoenix')).toEqual([]);
      expect((await latency(false).get(['phoenix/p1'])).size).toBe(0);
    });
  });
});
