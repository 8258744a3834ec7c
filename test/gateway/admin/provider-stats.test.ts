import { DEFAULT_CIRCUIT_CONFIG } from '@aigw/core';
import { REDIS } from '@aigw/platform';
import { CircuitBreakerStore, ProviderQuotaStore, RouteMemory, routingKeyPrefix } from '@aigw/routing';
import type { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { GatewayHarness } from '../support';
import { call, recordUsage, usageEvent } from './admin-support';

interface ListItem {
  id: string;
  hasApiKey: boolean;
  health: {
    status: string;
    consecutiveFailures: number;
    lastCheckAt: string | null;
    lastError: string | null;
    unservedModels: string[];
  };
  circuits: { id: string; state: string }[];
  routeInUse: string;
  usage24h: { requests: number; failures: number; cacheHits: number; costUsd: number };
  quota: unknown;
}

/** The admin providers list: circuit state, route in use and 24 h usage next to each provider's settings. */
describe('admin API: provider list statistics', () => {
  const h = new GatewayHarness();

  beforeAll(() => h.start(), 60_000);
  afterAll(() => h.stop(), 30_000);

  async function list(): Promise<Map<string, ListItem>> {
    const res = await call<{ data: ListItem[] }>(h, 'GET', '/api/v1/ai/admin/providers');
    expect(res.status).toBe(200);
    return new Map(res.body.data.map((p) => [p.id, p]));
  }

  it('shows circuits per deployment, the route in use and the last 24 hours of usage', async () => {
    await call(h, 'POST', '/api/v1/ai/admin/gateways', { id: 'proxy', baseUrl: `${h.sim.url}/v1` });
    await call(h, 'POST', '/api/v1/ai/admin/providers', {
      id: 'twoway',
      kind: 'openai',
      baseUrl: `${h.sim.url}/v1`,
      routing: 'auto',
      gatewayId: 'proxy',
      models: [{ name: 't1', promptPer1k: 0.001, completionPer1k: 0.001, contextWindow: 100 }],
    });
    const redis = h.app.get<Redis>(REDIS);
    const prefix = routingKeyPrefix(h.prefix);
    const circuits = new CircuitBreakerStore(redis, prefix, { ...DEFAULT_CIRCUIT_CONFIG, failureThreshold: 1 });
    await circuits.recordFailure('sim/sim-gpt');
    await new RouteMemory(redis, prefix).set('twoway', 'gateway');
    const old = new Date(Date.now() - 25 * 60 * 60 * 1000).toISOString();
    const user = '00000000-0000-4000-8000-000000000001';
    await recordUsage(h, [
      usageEvent(user, { provider: 'sim', costUsd: 0.25, latencyMs: 100 }),
      usageEvent(user, { provider: 'sim', costUsd: 0.5, latencyMs: 300 }),
      usageEvent(user, { provider: 'sim', status: 'error', errorClass: 'server', costUsd: 0, latencyMs: 200 }),
      usageEvent(user, { provider: 'sim', costUsd: 9, createdAt: old }),
      usageEvent(user, { provider: 'sim', costUsd: 0, cached: true }),
      // sim-b failed first, sim answered: the failure is sim-b's, the request sim's.
      usageEvent(user, {
        provider: 'sim',
        costUsd: 0,
        failedAttempts: [{ provider: 'sim-b', model: 'sim-claude', errorClass: 'timeout', latencyMs: 30 }],
      }),
      // A coalesced leader failed on sim, and its three followers with it: one call, one failure.
      usageEvent(user, { provider: 'sim', status: 'error', errorClass: 'server', costUsd: 0 }),
      ...[1, 2, 3].map(() =>
        usageEvent(user, { provider: 'sim', status: 'error', errorClass: 'server', costUsd: 0, attempts: 0 }),
      ),
    ]);

    const items = await list();
    expect(items.get('sim')).toMatchObject({
      circuit: 'open',
      circuits: [{ id: 'sim/sim-gpt', state: 'open' }],
      routeInUse: 'direct',
      usage24h: { requests: 5, failures: 2, cacheHits: 1, costUsd: 0.75 },
    });
    expect(items.get('sim-b')).toMatchObject({
      circuit: 'closed',
      circuits: [
        { id: 'sim-b/sim-claude', state: 'closed' },
        { id: 'sim-b/sim-gpt', state: 'closed' },
      ],
      usage24h: { requests: 1, failures: 1, cacheHits: 0, costUsd: 0 },
    });
    expect(items.get('twoway')?.routeInUse).toBe('gateway');
    // Settings without the key, and the monitor's view of its health.
    expect(items.get('sim')).toMatchObject({
      hasApiKey: true,
      health: { status: 'unknown', consecutiveFailures: 0, lastCheckAt: null, lastError: null, unservedModels: [] },
    });
    expect(JSON.stringify([...items.values()])).not.toContain('sk-sim-secret');
  });

  it("shows each provider's quota as the workers stored it, for the route it uses; null when never seen", async () => {
    const now = Date.now();
    const store = new ProviderQuotaStore(h.app.get<Redis>(REDIS), h.prefix);
    await store.write([
      {
        providerId: 'sim',
        route: 'direct',
        snapshot: {
          requests: { limit: 60, remaining: 0, resetAt: now + 60_000 },
          tokens: { limit: 1000, remaining: 900, resetAt: now - 1000 },
          observedAt: now - 2000,
        },
      },
      // A route `sim` does not use: not shown.
      {
        providerId: 'sim',
        route: 'gateway',
        snapshot: { requests: null, tokens: null, observedAt: now },
      },
    ]);
    const items = await list();
    expect(items.get('sim')?.quota).toEqual({
      requests: { limit: 60, remaining: 0, resetAt: new Date(now + 60_000).toISOString(), stale: false },
      tokens: { limit: 1000, remaining: 900, resetAt: new Date(now - 1000).toISOString(), stale: true },
      observedAt: new Date(now - 2000).toISOString(),
      route: 'direct',
    });
    expect(items.get('sim-b')?.quota).toBeNull();
  });

  it('shows the health the monitor recorded; 401 and 403', async () => {
    await h.app
      .get(DataSource)
      .query(
        `UPDATE providers SET health_status = 'failing', consecutive_failures = 4, last_check_at = now(), last_error = 'connection refused' WHERE id = 'sim-b'`,
      );
    expect((await list()).get('sim-b')?.health).toMatchObject({
      status: 'failing',
      consecutiveFailures: 4,
      lastCheckAt: expect.any(String),
      lastError: 'connection refused',
    });
    expect((await list()).get('sim-b')?.health.unservedModels).toEqual([]);
    expect((await fetch(`${h.url}/api/v1/ai/admin/providers`)).status).toBe(401);
    const user = await h.userKey('list-reader');
    expect((await call(h, 'GET', '/api/v1/ai/admin/providers', undefined, user)).status).toBe(403);
  });

  it("names the models the provider's own model list lacked at the monitor's last probe, while that verdict holds", async () => {
    const db = h.app.get(DataSource);
    // By upstream name, as the monitor records them; shown by the catalog's names (`sim-b/sim-gpt` is `sim-gpt`).
    await db.query(
      `UPDATE providers SET unserved_models = '["sim-gpt"]'::jsonb, last_check_at = now(), health_valid_until = NULL,
              health_status = 'healthy', consecutive_failures = 0, last_error = NULL
        WHERE id = 'sim-b'`,
    );
    const health = (await list()).get('sim-b')?.health;
    expect(health).toMatchObject({ status: 'healthy', unservedModels: ['sim-gpt'], lastCheckAt: expect.any(String) });
    expect((await list()).get('sim')?.health.unservedModels).toEqual([]);
    // A verdict older than the provider's settings is another server's (or account's) list: not taken, as routing does.
    await db.query(`UPDATE providers SET updated_at = last_check_at + interval '1 second' WHERE id = 'sim-b'`);
    expect((await list()).get('sim-b')?.health.unservedModels).toEqual([]);
  });
});
