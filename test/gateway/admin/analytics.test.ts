import { KEEP_ALL_CUTOFFS, retentionCutoffs, UsageAnalyticsStore, type UsageCutoffsSource } from '@aigw/entities';
import { DataSource } from 'typeorm';
import { AnalyticsService } from '../../../apps/api-gateway/src/analytics/analytics.service';
import { GatewayHarness } from '../support';
import { call, createKey, createUser, errorOf, recordUsage, usageEvent } from './admin-support';

interface Figures {
  requests: number;
  successes: number;
  failures: number;
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  costUsd: number;
  cacheHits: number;
  avgLatencyMs: number | null;
  p95LatencyMs: number | null;
}
interface UsageBody {
  groupBy: string;
  page: number;
  limit: number;
  totalGroups: number;
  totals: Figures;
  groups: (Figures & { key: string | null })[];
}
interface CostsBody {
  from: string;
  to: string;
  totalUsd: number;
  groups: { key: string | null; costUsd: number; requests: number }[];
  projection: { monthEndUsd: number; dailyRateUsd: number };
}
interface MetricsBody {
  requests: number;
  successRate: number;
  cache: { hits: number; misses: number };
  latency: { p50Ms: number; p95Ms: number; p99Ms: number };
  providers: { provider: string | null; requests: number }[];
  series: { interval: string; points: { t: string; requests: number; costUsd: number }[] };
}

const QUOTED = 'acme "labs", inc';

/** The admin analytics over HTTP: contract, validation, roles, CSV, and the projection at a fixed clock. */
describe('admin analytics', () => {
  const h = new GatewayHarness();
  let userKey = '';
  let alice = '';
  let bob = '';

  beforeAll(async () => {
    await h.start();
    alice = (await createUser(h, 'a-alice')).id;
    bob = (await createUser(h, 'a-bob')).id;
    userKey = (await createKey(h, { userId: bob })).key;
    const at = (day: number, hour: number, minute = 0): string =>
      new Date(Date.UTC(2026, 9, day, hour, minute)).toISOString();
    await recordUsage(h, [
      // Oct 1: sim answers alice three times (one cached, 100/200/300 ms), bob once through QUOTED.
      usageEvent(alice, { createdAt: at(1, 9, 10), latencyMs: 100, costUsd: 0.5, promptTokens: 100 }),
      usageEvent(alice, { createdAt: at(1, 9, 50), latencyMs: 200, costUsd: 0.25, cached: true, cachedTokens: 7 }),
      usageEvent(alice, { createdAt: at(1, 10, 5), latencyMs: 300, costUsd: 0.25 }),
      // Answered by QUOTED after sim failed: sim's failed attempt is no request of its own.
      usageEvent(bob, {
        createdAt: at(1, 11),
        provider: QUOTED,
        model: 'q-1',
        latencyMs: 1200,
        costUsd: 2,
        failedAttempts: [{ provider: 'sim', model: 'sim-gpt', errorClass: 'timeout', latencyMs: 5000 }],
      }),
      // Oct 2: one failure nobody answered.
      usageEvent(bob, {
        createdAt: at(2, 8),
        provider: null,
        model: null,
        requestedModel: 'auto',
        status: 'error',
        costUsd: 0,
        latencyMs: 40,
      }),
    ]);
    // For the projection: $1 a day at noon from Aug 1 to Aug 10 2026.
    await recordUsage(
      h,
      Array.from({ length: 10 }, (_, i) =>
        usageEvent(alice, { createdAt: new Date(Date.UTC(2026, 7, i + 1, 12)).toISOString(), costUsd: 1 }),
      ),
    );
    // For the metrics' default range (the last 24 h).
    const now = Date.now();
    await recordUsage(h, [
      usageEvent(alice, { createdAt: new Date(now - 2 * 3_600_000).toISOString(), latencyMs: 80, costUsd: 0.1 }),
      usageEvent(bob, { createdAt: new Date(now - 3_600_000).toISOString(), latencyMs: 90, cached: true, costUsd: 0 }),
    ]);
  }, 60_000);
  afterAll(() => h.stop(), 30_000);

  const get = <T>(route: string, key = h.adminKey): Promise<{ status: number; body: T }> =>
    call<T>(h, 'GET', route, undefined, key);
  const OCT = 'from=2026-10-01&to=2026-10-03';

  describe('GET /api/v1/ai/admin/usage', () => {
    it('groups by provider with requests, outcomes, tokens, cost, cache hits, average and p95 latency', async () => {
      const res = await get<UsageBody>(`/api/v1/ai/admin/usage?${OCT}&groupBy=provider`);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ groupBy: 'provider', page: 1, limit: 100, totalGroups: 3 });
      expect(res.body.groups).toEqual([
        {
          key: 'sim',
          requests: 3,
          successes: 3,
          failures: 0,
          clientClosed: 0,
          promptTokens: 120,
          completionTokens: 15,
          cachedTokens: 7,
          costUsd: 1,
          costSavedUsd: 0,
          cacheHits: 1,
          avgLatencyMs: 200,
          // 3rd of 3 in [300, 400): interpolated to the bucket's top.
          p95LatencyMs: 400,
          failedAttempts: 1,
        },
        expect.objectContaining({ key: QUOTED, requests: 1, costUsd: 2, p95LatencyMs: 1500 }),
        expect.objectContaining({ key: null, requests: 1, successes: 0, failures: 1 }),
      ]);
      expect(res.body.totals).toMatchObject({
        requests: 5,
        failures: 1,
        costUsd: 3,
        cacheHits: 1,
        avgLatencyMs: 368,
        failedAttempts: 1,
      });
    });

    it('groups by day, hour, user and model, and pages', async () => {
      const day = await get<UsageBody>(`/api/v1/ai/admin/usage?${OCT}`);
      expect(day.body.groups.map((g) => [g.key, g.requests])).toEqual([
        ['2026-10-01', 4],
        ['2026-10-02', 1],
      ]);
      const hour = await get<UsageBody>(`/api/v1/ai/admin/usage?${OCT}&groupBy=hour`);
      expect(hour.body.groups.map((g) => [g.key, g.requests])).toEqual([
        ['2026-10-01T09:00:00.000Z', 2],
        ['2026-10-01T10:00:00.000Z', 1],
        ['2026-10-01T11:00:00.000Z', 1],
        ['2026-10-02T08:00:00.000Z', 1],
      ]);
      const user = await get<UsageBody>(`/api/v1/ai/admin/usage?${OCT}&groupBy=user`);
      expect(user.body.groups.map((g) => [g.key, g.requests])).toEqual([
        [alice, 3],
        [bob, 2],
      ]);
      const model = await get<UsageBody>(`/api/v1/ai/admin/usage?${OCT}&groupBy=model&page=2&limit=1`);
      expect(model.body).toMatchObject({ page: 2, limit: 1, totalGroups: 3, totals: { requests: 5 } });
      expect(model.body.groups.map((g) => g.key)).toEqual(['auto']);
    });

    it('counts what a direct sum over usage_records counts, for a range with partial hours', async () => {
      const from = '2026-10-01T09:30:00.000Z';
      const to = '2026-10-02T08:00:00.001Z';
      const res = await get<UsageBody>(`/api/v1/ai/admin/usage?from=${from}&to=${to}&groupBy=provider`);
      const [direct] = await h.app.get(DataSource).query<{ n: string; cost: string }[]>(
        `SELECT count(*) FILTER (WHERE attempt_of IS NULL) AS n, sum(cost_usd) AS cost FROM usage_records
            WHERE created_at >= $1 AND created_at < $2`,
        [from, to],
      );
      expect(res.body.totals.requests).toBe(Number(direct.n));
      expect(res.body.totals.costUsd).toBe(Number(direct.cost));
    });
  });

  describe('GET /api/v1/ai/admin/costs', () => {
    it('answers totals, groups and a projection', async () => {
      const res = await get<CostsBody>(`/api/v1/ai/admin/costs?${OCT}&by=provider`);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ from: '2026-10-01T00:00:00.000Z', to: '2026-10-03T00:00:00.000Z', totalUsd: 3 });
      expect(res.body.groups.map((g) => [g.key, g.costUsd, g.requests])).toEqual([
        [QUOTED, 2, 1],
        ['sim', 1, 3],
        [null, 0, 1],
      ]);
      expect(res.body.projection).toEqual(
        expect.objectContaining({ monthEndUsd: expect.any(Number), dailyRateUsd: expect.any(Number) }),
      );
    });

    it('downloads CSV: a header row, quoted fields, an attachment', async () => {
      const res = await fetch(`${h.url}/api/v1/ai/admin/costs?${OCT}&by=provider&format=csv`, {
        headers: { authorization: `Bearer ${h.adminKey}` },
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
      expect(res.headers.get('content-disposition')).toBe(
        'attachment; filename="costs-by-provider-2026-10-01-2026-10-03.csv"',
      );
      expect(await res.text()).toBe(
        [
          'provider,costUsd,costSavedUsd,requests,promptTokens,completionTokens',
          '"acme ""labs"", inc",2,0,1,10,5',
          'sim,1,0,3,120,15',
          ',0,0,1,10,5',
          '',
        ].join('\r\n'),
      );
    });

    it('projects the month end from month to date plus 7 days average times the days left (fixed clock)', async () => {
      const at = new Date('2026-08-10T18:00:00.000Z');
      const service = new AnalyticsService(new UsageAnalyticsStore(h.app.get(DataSource)), () => at);
      const view = await service.costs({ from: '2026-08-01', to: '2026-08-11', by: 'day' });
      expect(view.totalUsd).toBe(10);
      // Aug 1..10 so far ($10); Aug 3..9 is $7 over 7 days; 21.25 days left until Sep 1.
      expect(view.projection).toMatchObject({
        monthToDateUsd: 10,
        dailyRateUsd: 1,
        daysLeft: 21.25,
        monthEndUsd: 31.25,
      });
    });
  });

  describe('past the usage retention (USAGE_*RETENTION_DAYS)', () => {
    // Raw records kept from Oct 8, hourly rollups from Oct 4, daily ones for good.
    const at = new Date('2026-11-08T00:00:00.000Z');
    const service = (): AnalyticsService =>
      new AnalyticsService(
        new UsageAnalyticsStore(
          h.app.get(DataSource),
          retentionCutoffs({ rawDays: 31, hourlyDays: 35, dailyDays: 0 }, () => at.getTime()),
        ),
        () => at,
      );

    it('answers from the rollups still kept, widening the edges to their hour or day, and says so', async () => {
      // Oct 1 and 2 are past both: whole days from the daily rollups (all 5 requests, not the 3 from 09:30).
      const view = await service().usage({ from: '2026-10-01T09:30', to: '2026-10-02T09:00', groupBy: 'provider' });
      expect(view).toMatchObject({ from: '2026-10-01T00:00:00.000Z', to: '2026-10-03T00:00:00.000Z' });
      expect(view.totals.requests).toBe(5);
      // Oct 5 is past the raw retention only: whole hours.
      const hours = await service().costs({ from: '2026-10-05T09:30', to: '2026-10-09T10:15', by: 'day' });
      expect(hours).toMatchObject({ from: '2026-10-05T09:00:00.000Z', to: '2026-10-09T10:15:00.000Z' });
      // A daily series where the hours are gone.
      const metrics = await service().metrics({ from: '2026-10-01', to: '2026-10-03' });
      expect(metrics.series.interval).toBe('day');
      expect(metrics.series.points.map((p) => p.requests)).toEqual([4, 1]);
    });

    it('says the range it counted when a prune records its edges during the request', async () => {
      // The first read of the edges finds none; every later one, those of a prune recorded meanwhile.
      const pruned = retentionCutoffs({ rawDays: 31, hourlyDays: 35, dailyDays: 0 }, () => at.getTime());
      let reads = 0;
      const pruning: UsageCutoffsSource = {
        cutoffs: (em) => (reads++ === 0 ? KEEP_ALL_CUTOFFS : pruned).cutoffs(em),
      };
      const service = new AnalyticsService(new UsageAnalyticsStore(h.app.get(DataSource), pruning), () => at);
      const view = await service.usage({ from: '2026-10-01T09:30', to: '2026-10-02T09:00', groupBy: 'provider' });
      // One read of the edges, in the snapshot of the rows: the range shown is the one counted (4 requests from
      // 09:30 to 09:00; the whole days would count 5).
      expect(reads).toBe(1);
      expect(view).toMatchObject({ from: '2026-10-01T09:30:00.000Z', to: '2026-10-02T09:00:00.000Z' });
      expect(view.totals.requests).toBe(4);
    });

    it('reads the edges once for costs: the projection ranges sit inside every retention', async () => {
      let reads = 0;
      const counting: UsageCutoffsSource = {
        cutoffs: (em) => {
          reads++;
          return KEEP_ALL_CUTOFFS.cutoffs(em);
        },
      };
      const service = new AnalyticsService(new UsageAnalyticsStore(h.app.get(DataSource), counting), () => at);
      await service.costs({ from: '2026-10-01', to: '2026-10-09', by: 'day' });
      expect(reads).toBe(1);
    });

    it('refuses hourly groups of hours no longer kept, naming from', async () => {
      await expect(service().usage({ from: '2026-10-01', to: '2026-10-02', groupBy: 'hour' })).rejects.toMatchObject({
        status: 400,
        param: 'from',
      });
      const recent = await service().usage({ from: '2026-10-05', to: '2026-10-06', groupBy: 'hour' });
      expect(recent.groupBy).toBe('hour');
    });
  });

  describe('GET /api/v1/ai/metrics', () => {
    it('covers the last 24 h by default: totals, cache, percentiles, providers and an hourly series', async () => {
      const res = await get<MetricsBody>('/api/v1/ai/metrics');
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ requests: 2, successRate: 1, cache: { hits: 1, misses: 1 } });
      expect(res.body.latency.p95Ms).toBeGreaterThanOrEqual(75);
      expect(res.body.latency.p95Ms).toBeLessThanOrEqual(100);
      expect(res.body.providers).toEqual([expect.objectContaining({ provider: 'sim', requests: 2 })]);
      expect(res.body.series.interval).toBe('hour');
      expect(res.body.series.points.length).toBeGreaterThanOrEqual(24);
      expect(res.body.series.points.reduce((a, p) => a + p.requests, 0)).toBe(2);
      expect(Object.keys(res.body.series.points[0]).sort()).toEqual(
        ['avgLatencyMs', 'cacheHits', 'costUsd', 'failures', 'p95LatencyMs', 'requests', 't', 'tokens'].sort(),
      );
    });

    it('switches to daily points past 7 days', async () => {
      const res = await get<MetricsBody>(`/api/v1/ai/metrics?from=2026-09-25&to=2026-10-05`);
      expect(res.body.series.interval).toBe('day');
      expect(res.body.series.points.map((p) => p.requests)).toEqual([0, 0, 0, 0, 0, 0, 4, 1, 0, 0]);
      expect(res.body.series.points[6]).toMatchObject({ t: '2026-10-01T00:00:00.000Z', costUsd: 3 });
    });
  });

  describe('validation and roles', () => {
    it.each([
      ['/api/v1/ai/admin/usage?from=yesterday', 'from'],
      ['/api/v1/ai/admin/usage?to=2026-13-01', 'to'],
      ['/api/v1/ai/admin/usage?groupBy=week', 'groupBy'],
      ['/api/v1/ai/admin/usage?page=0', 'page'],
      ['/api/v1/ai/admin/usage?page=x', 'page'],
      ['/api/v1/ai/admin/usage?page=99999999999999999999', 'page'],
      ['/api/v1/ai/admin/usage?limit=5000', 'limit'],
      ['/api/v1/ai/admin/usage?from=2026-10-03&to=2026-10-01', 'from'],
      ['/api/v1/ai/admin/usage?from=2025-01-01&to=2026-10-01', 'to'],
      ['/api/v1/ai/admin/usage?from=2026-08-01&to=2026-10-01&groupBy=hour', 'to'],
      ['/api/v1/ai/admin/costs?by=model', 'by'],
      ['/api/v1/ai/admin/costs?format=xml', 'format'],
      ['/api/v1/ai/admin/costs?from=2026-10-01&to=2026-10-01', 'from'],
      ['/api/v1/ai/metrics?from=2026-10-01T25:00:00Z', 'from'],
      ['/api/v1/ai/metrics?from=2024-10-01&to=2026-10-01', 'to'],
    ])('400 for %s naming %s', async (route, param) => {
      const res = await get(route);
      expect(res.status).toBe(400);
      expect(errorOf(res)).toMatchObject({ code: 'invalid_request', param });
    });

    it.each([
      ['/api/v1/ai/admin/usage?from=2026-10-01&from=2026-10-02', 'from'],
      ['/api/v1/ai/admin/usage?page=1&page=2', 'page'],
      ['/api/v1/ai/admin/costs?format=csv&format=json', 'format'],
      ['/api/v1/ai/metrics?to=2026-10-02&to=2026-10-03', 'to'],
      ['/api/v1/ai/usage?groupBy=day&groupBy=model', 'groupBy'],
      ['/api/v1/ai/admin/keys?limit=1&limit=2', 'limit'],
      ['/api/v1/ai/admin/config/export?format=yaml&format=json', 'format'],
    ])('400 for %s: a parameter sent twice is named as such, never read as a bad value', async (route, param) => {
      const res = await get(route);
      expect(res.status).toBe(400);
      expect(errorOf(res)).toMatchObject({
        code: 'invalid_request',
        param,
        message: `Invalid '${param}': ${param} must be given once.`,
      });
    });

    it.each(['/api/v1/ai/admin/usage', '/api/v1/ai/admin/costs', '/api/v1/ai/metrics'])(
      '%s: 401 without a key, 403 for a user key',
      async (route) => {
        expect((await fetch(`${h.url}${route}`)).status).toBe(401);
        const res = await get(route, userKey);
        expect(res.status).toBe(403);
        expect(errorOf(res)).toMatchObject({ code: 'permission_denied' });
      },
    );
  });
});
