import { ProviderHealthStore, type HealthRules, type RouteCheck } from '@aigw/entities';
import { DataSource } from 'typeorm';
import { GatewayHarness } from '../support';
import { call, createKey, createUser, errorOf } from './admin-support';

interface HistoryBody {
  providerId: string;
  from: string;
  to: string;
  uptime: number | null;
  probes: number;
  checks: {
    at: string;
    route: string;
    ok: boolean;
    latencyMs: number | null;
    status?: number;
    errorClass?: string;
    message?: string;
  }[];
}

interface ModelsBody {
  refreshedAt: string | null;
  served: { name: string; capabilities: string[]; firstSeenAt: string }[];
  catalog: { name: string; upstreamName: string; enabled: boolean }[];
  notInCatalog: { name: string; capabilities: string[] }[];
  noLongerServed: { name: string }[];
}

const RULES: HealthRules = { failureThreshold: 3, slowMs: 5000, window: 10 };
const ok = (route: RouteCheck['route'], latencyMs: number): RouteCheck => ({
  route,
  ok: true,
  latencyMs,
  status: 200,
  errorClass: null,
  message: null,
});
const refused = (route: RouteCheck['route']): RouteCheck => ({
  route,
  ok: false,
  latencyMs: 2,
  status: null,
  errorClass: 'network',
  message: 'connection_refused: nothing listens on 127.0.0.1:1',
});

/** The admin health history and model discovery endpoints over rows the monitor would have written. */
describe('admin API: provider health history and discovered models', () => {
  const h = new GatewayHarness();
  let store: ProviderHealthStore;
  const base = Date.parse('2026-03-01T00:00:00Z');
  const at = (minutes: number) => new Date(base + minutes * 60_000);

  beforeAll(async () => {
    await h.start();
    store = new ProviderHealthStore(h.app.get(DataSource));
    // Four probes of an auto-like provider (both routes each), one of which had no working route.
    await store.recordProbe({ kind: 'provider', id: 'sim' }, [ok('direct', 10), ok('gateway', 20)], at(0), RULES);
    await store.recordProbe({ kind: 'provider', id: 'sim' }, [refused('direct'), ok('gateway', 21)], at(1), RULES);
    await store.recordProbe({ kind: 'provider', id: 'sim' }, [refused('direct'), refused('gateway')], at(2), RULES);
    await store.recordProbe({ kind: 'provider', id: 'sim' }, [ok('direct', 12), ok('gateway', 22)], at(3), RULES);
  }, 60_000);
  afterAll(() => h.stop(), 30_000);

  const history = (query: string) => call<HistoryBody>(h, 'GET', `/api/v1/ai/admin/providers/sim/health${query}`);

  it('answers the checks of the range newest first, and uptime over every probe of it', async () => {
    const res = await history(`?from=${at(0).toISOString()}&to=${at(10).toISOString()}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ providerId: 'sim', from: at(0).toISOString(), to: at(10).toISOString() });
    // 3 of 4 probes had a working route.
    expect(res.body.uptime).toBe(0.75);
    expect(res.body.probes).toBe(4);
    expect(res.body.checks).toHaveLength(8);
    expect(res.body.checks[0].at).toBe(at(3).toISOString());
    expect(res.body.checks.at(-1)?.at).toBe(at(0).toISOString());
    const failed = res.body.checks.find((c) => !c.ok);
    expect(failed).toEqual({
      at: at(2).toISOString(),
      route: expect.stringMatching(/^(direct|gateway)$/) as unknown,
      ok: false,
      latencyMs: 2,
      errorClass: 'network',
      message: 'connection_refused: nothing listens on 127.0.0.1:1',
    });
    expect(res.body.checks[0]).toMatchObject({ ok: true, status: 200 });
    expect(res.body.checks[0]).not.toHaveProperty('errorClass');
  });

  it('bounds the checks by limit and the range by from/to; uptime still covers the range', async () => {
    const limited = await history(`?from=${at(0).toISOString()}&to=${at(10).toISOString()}&limit=3`);
    expect(limited.body.checks).toHaveLength(3);
    expect(limited.body.uptime).toBe(0.75);
    const lastTwo = await history(`?from=${at(2).toISOString()}&to=${at(10).toISOString()}`);
    expect(lastTwo.body.uptime).toBe(0.5);
    const empty = await history(`?from=${at(100).toISOString()}&to=${at(200).toISOString()}`);
    expect(empty.body).toMatchObject({ uptime: null, probes: 0, checks: [] });
    // Default range: the last 24 h, which holds none of these.
    expect((await history('')).body.checks).toEqual([]);
  });

  it('400 for bad dates or limits, naming the field; 404 for an unknown provider', async () => {
    const bad = await history('?from=yesterday');
    expect(bad.status).toBe(400);
    expect(errorOf(bad)).toMatchObject({ param: 'from', type: 'invalid_request_error' });
    const reversed = await history(`?from=${at(5).toISOString()}&to=${at(1).toISOString()}`);
    expect(reversed.status).toBe(400);
    expect(errorOf(reversed).param).toBe('from');
    const tooLong = await history(`?from=2020-01-01&to=2026-01-01`);
    expect(tooLong.status).toBe(400);
    expect(errorOf(tooLong).param).toBe('to');
    const limit = await history('?limit=5000');
    expect(limit.status).toBe(400);
    expect(errorOf(limit).param).toBe('limit');
    for (const form of ['1e2', '0x10']) {
      const nonDecimal = await history(`?limit=${form}`);
      expect([form, nonDecimal.status, errorOf(nonDecimal).param]).toEqual([form, 400, 'limit']);
    }
    for (const route of ['/api/v1/ai/admin/providers/nope/health', '/api/v1/ai/admin/providers/nope/models']) {
      const missing = await call(h, 'GET', route);
      expect(missing.status).toBe(404);
      expect(errorOf(missing)).toMatchObject({ code: 'not_found', param: 'id' });
    }
  });

  it('lists served models against the catalog: what is new, and what is no longer served', async () => {
    const before = await call<ModelsBody>(h, 'GET', '/api/v1/ai/admin/providers/sim-b/models');
    expect(before.status).toBe(200);
    expect(before.body).toMatchObject({ refreshedAt: null, served: [], notInCatalog: [], noLongerServed: [] });
    const catalogNames = before.body.catalog.map((m) => m.upstreamName);
    expect(catalogNames.length).toBeGreaterThan(1);
    // The provider now serves the first catalog model and a new one.
    await store.recordModels(
      'sim-b',
      [
        { model: catalogNames[0], capabilities: ['chat', 'streaming'] },
        { model: 'brand-new', capabilities: ['chat', 'streaming', 'tools'] },
      ],
      at(5),
    );
    const res = await call<ModelsBody>(h, 'GET', '/api/v1/ai/admin/providers/sim-b/models');
    expect(res.body.refreshedAt).toBe(at(5).toISOString());
    expect(res.body.served.map((m) => m.name).sort()).toEqual([catalogNames[0], 'brand-new'].sort());
    expect(res.body.notInCatalog).toEqual([
      { name: 'brand-new', capabilities: ['chat', 'streaming', 'tools'], firstSeenAt: at(5).toISOString() },
    ]);
    expect(res.body.noLongerServed.map((m) => m.name)).toEqual(
      before.body.catalog.filter((m) => m.upstreamName !== catalogNames[0]).map((m) => m.name),
    );
    // Discovery never enables anything: the catalog is unchanged.
    expect(res.body.catalog).toEqual(before.body.catalog);
  });

  it('admin only', async () => {
    const user = await createUser(h, `health-user-${Date.now()}`);
    const key = await createKey(h, { userId: user.id });
    const res = await call(h, 'GET', '/api/v1/ai/admin/providers/sim/health', undefined, key.key);
    expect(res.status).toBe(403);
  });
});
