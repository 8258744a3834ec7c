import { randomUUID } from 'node:crypto';
import { DAY_MS, HOUR_MS, type UsageEvent } from '@aigw/core';
import {
  KEEP_ALL_USAGE,
  retentionCutoffs,
  runMigrationsLocked,
  UsageAnalyticsStore,
  UsageRetentionStore,
  usageCutoffs,
  UsageStore,
  type AnalyticsGroupBy,
  type UsageRetention,
  type UsageSumsGroup,
} from '@aigw/entities';
import type { DataSource } from 'typeorm';
import { dropSchema, openDataSource, uniqueSchema } from './pg';

const USERS = [randomUUID(), randomUUID()];
const KEY = randomUUID();
const START = Date.UTC(2026, 8, 1, 5, 11, 0);
/** Pruning runs "now": 70 days after the first request. */
const NOW = START + 70 * DAY_MS;
const EVENTS = 420;

/** One request every ~4 hours (with jitter) over 70 days, two users, two deployments. */
function events(): UsageEvent[] {
  return Array.from({ length: EVENTS }, (_, i) => ({
    requestId: `req_${randomUUID()}`,
    userId: USERS[i % 2],
    apiKeyId: KEY,
    requestedModel: 'gpt-x',
    provider: i % 3 === 0 ? 'sim-anthropic' : 'sim-openai',
    model: 'gpt-x',
    context: null,
    promptTokens: 10 + (i % 90),
    completionTokens: 5 + (i % 40),
    cachedTokens: 0,
    costUsd: 0.001 * (1 + (i % 7)),
    costSavedUsd: 0,
    latencyMs: 100 + (i % 500),
    cached: false,
    status: i % 9 === 0 ? 'error' : 'success',
    errorClass: i % 9 === 0 ? 'network' : null,
    errorCode: i % 9 === 0 ? 'all_providers_failed' : null,
    attempts: 1,
    policy: null,
    stream: false,
    createdAt: new Date(START + i * 4 * HOUR_MS + (i % 5) * 731_000).toISOString(),
  }));
}

const count = async (ds: DataSource, sql: string, params: unknown[] = []): Promise<number> =>
  Number((await ds.query<{ n: string }[]>(sql, params))[0].n);

/** Requests and cost per group, rounded: what must not change when only rows past the retention went. */
const sums = (groups: UsageSumsGroup[]): Record<string, [number, number, number]> =>
  Object.fromEntries(
    groups.map((g) => [
      String(g.key),
      [g.requests, g.promptTokens, Math.round(g.costUsd * 1e6)] as [number, number, number],
    ]),
  );

/** The range an aggregate over [from, to) counted (`aggregateWithRange`'s). */
async function readableRange(s: UsageAnalyticsStore, from: Date, to: Date): Promise<{ from: Date; to: Date }> {
  const r = await s.aggregateWithRange({ from, to, groupBy: 'none', latencies: false });
  return { from: r.from, to: r.to };
}

describe('usage retention (real PostgreSQL)', () => {
  const schema = uniqueSchema('usage_retention');
  let ds: DataSource;
  let pruner: UsageRetentionStore;
  const retention: UsageRetention = { rawDays: 31, hourlyDays: 45, dailyDays: 0 };
  const rawCutoff = new Date(NOW - 31 * DAY_MS);
  const hourlyCutoff = new Date(NOW - 45 * DAY_MS);

  beforeAll(async () => {
    ds = await openDataSource(schema);
    await runMigrationsLocked(ds);
    expect(await new UsageStore(ds).insertBatch(events())).toBe(EVENTS);
  });

  afterAll(async () => {
    await ds?.destroy();
    await dropSchema(schema);
  });

  it('keeps everything by default', async () => {
    pruner = new UsageRetentionStore(ds);
    expect(await pruner.prune(KEEP_ALL_USAGE, NOW)).toEqual({ records: 0, hourly: 0, daily: 0 });
    expect(await count(ds, 'SELECT count(*) AS n FROM usage_records')).toBe(EVENTS);
  });

  it('prunes raw records and hourly rollups past their retention in bounded batches; analytics still answer', async () => {
    // Ranges whose edges lie past the raw (and hourly) retention, asked before and after pruning.
    const ranges: [Date, Date, AnalyticsGroupBy][] = [
      [new Date(START + 3 * DAY_MS + 1_234_567), new Date(NOW - 40 * DAY_MS + 777_777), 'day'],
      [new Date(NOW - 40 * DAY_MS + 5 * HOUR_MS + 999), new Date(NOW - 2 * DAY_MS + 3_000), 'provider'],
      [new Date(NOW - 33 * DAY_MS + 17 * 60_000), new Date(NOW - 32 * DAY_MS - 4 * 60_000), 'user'],
    ];
    const analytics = new UsageAnalyticsStore(
      ds,
      retentionCutoffs(retention, () => NOW),
    );
    const unaware = new UsageAnalyticsStore(ds);
    // Before pruning, over the range a retention-aware store says it answers: what every row gives.
    const before = await Promise.all(
      ranges.map(async ([from, to, groupBy]) => {
        const r = await readableRange(analytics, from, to);
        return sums(await unaware.aggregate({ ...r, groupBy }));
      }),
    );
    const recordsKept = await count(ds, 'SELECT count(*) AS n FROM usage_records WHERE created_at >= $1', [rawCutoff]);
    const hourlyKept = await count(ds, `SELECT count(*) AS n FROM usage_hourly WHERE hour > $1`, [
      new Date(hourlyCutoff.getTime() - HOUR_MS),
    ]);
    const dailyRows = await count(ds, 'SELECT count(*) AS n FROM usage_daily');
    const deploymentDailyRows = await count(ds, 'SELECT count(*) AS n FROM usage_deployment_daily');

    // 7-row batches: the backlog goes in many statements.
    const removed = await pruner.prune(retention, NOW, 7);

    expect(removed.records).toBe(EVENTS - recordsKept);
    expect(removed.records).toBeGreaterThan(200);
    expect(await count(ds, 'SELECT count(*) AS n FROM usage_records')).toBe(recordsKept);
    expect(await count(ds, 'SELECT count(*) AS n FROM usage_records WHERE created_at < $1', [rawCutoff])).toBe(0);
    // An hourly row goes once its whole hour is past the retention; the hour holding the cutoff stays.
    expect(removed.hourly).toBeGreaterThan(0);
    expect(await count(ds, 'SELECT count(*) AS n FROM usage_hourly')).toBe(hourlyKept);
    for (const table of ['usage_hourly', 'usage_deployment_hourly']) {
      expect(
        await count(ds, `SELECT count(*) AS n FROM ${table} WHERE hour + interval '1 hour' <= $1`, [hourlyCutoff]),
      ).toBe(0);
    }
    // Daily rollups kept for good (USAGE_DAILY_RETENTION_DAYS=0).
    expect(removed.daily).toBe(0);
    expect(await count(ds, 'SELECT count(*) AS n FROM usage_daily')).toBe(dailyRows);
    expect(await count(ds, 'SELECT count(*) AS n FROM usage_deployment_daily')).toBe(deploymentDailyRows);

    // After pruning, the same answers from the rollups still kept; reading the edges the pruning recorded (as the
    // api-gateway does) answers as the retention it pruned by.
    expect(await pruner.cutoffs()).toEqual(usageCutoffs(retention, NOW));
    const recorded = new UsageAnalyticsStore(ds, pruner);
    for (const [i, [from, to, groupBy]] of ranges.entries()) {
      expect(sums(await analytics.aggregate({ from, to, groupBy }))).toEqual(before[i]);
      expect(sums(await recorded.aggregate({ from, to, groupBy }))).toEqual(before[i]);
    }
    // A store unaware of the retention reads raw edges that are gone: it would have answered less.
    const [from, to, groupBy] = ranges[0];
    const lost = sums(await unaware.aggregate({ from, to, groupBy }));
    expect(lost).not.toEqual(before[0]);

    // Nothing left to prune: a second run is a no-op.
    expect(await pruner.prune(retention, NOW, 7)).toEqual({ records: 0, hourly: 0, daily: 0 });
  });

  it('never moves a recorded edge back: rows a shorter retention pruned stay gone', async () => {
    const pruned = await pruner.cutoffs();
    expect(await pruner.prune({ rawDays: 60, hourlyDays: 90, dailyDays: 400 }, NOW + DAY_MS)).toEqual({
      records: 0,
      hourly: 0,
      daily: 0,
    });
    // The daily level gets its first edge; the others keep the later ones of the shorter retention.
    expect(await pruner.cutoffs()).toEqual({ ...pruned, daily: new Date(NOW + DAY_MS - 400 * DAY_MS) });
  });

  it('migrating a schema pruned before the edges were recorded takes them from the oldest rows left', async () => {
    const oldest = async (sql: string): Promise<Date> => (await ds.query<{ t: Date }[]>(sql))[0].t;
    // Undone down to the edges' migration: later ones first (they run again with it).
    while ((await ds.query<{ t: string | null }[]>(`SELECT to_regclass('usage_retention_edges') AS t`))[0].t !== null) {
      await ds.undoLastMigration({ transaction: 'each' });
    }
    await runMigrationsLocked(ds);
    const edges = await pruner.cutoffs();
    expect(edges).toEqual({
      raw: await oldest('SELECT min(created_at) AS t FROM usage_records'),
      hourly: await oldest('SELECT min(hour) AS t FROM usage_hourly'),
      daily: null,
    });
    // At or after where the pruning really went: the analytics may widen more, never read rows that are gone.
    expect(edges.raw!.getTime()).toBeGreaterThanOrEqual(rawCutoff.getTime());
    expect(edges.hourly!.getTime()).toBeGreaterThanOrEqual(hourlyCutoff.getTime() - HOUR_MS);
  });

  it('widens only edges past a retention, to the hour then the day', async () => {
    const analytics = new UsageAnalyticsStore(
      ds,
      retentionCutoffs(retention, () => NOW),
    );
    const recent = { from: new Date(NOW - 3 * DAY_MS + 123), to: new Date(NOW - 456) };
    expect(await readableRange(analytics, recent.from, recent.to)).toEqual(recent);
    const t = NOW - 40 * DAY_MS + 5 * HOUR_MS + 999;
    expect(await readableRange(analytics, new Date(t), new Date(NOW))).toEqual({
      from: new Date(Math.floor(t / HOUR_MS) * HOUR_MS),
      to: new Date(NOW),
    });
    const old = NOW - 50 * DAY_MS + 5 * HOUR_MS;
    expect(await readableRange(analytics, new Date(old), new Date(old + HOUR_MS + 1))).toEqual({
      from: new Date(Math.floor(old / DAY_MS) * DAY_MS),
      to: new Date(Math.ceil(old / DAY_MS) * DAY_MS),
    });
    expect(await analytics.snapshot((s) => Promise.resolve(s.hasHoursSince(new Date(NOW - 44 * DAY_MS))))).toBe(true);
    expect(await analytics.snapshot((s) => Promise.resolve(s.hasHoursSince(new Date(NOW - 46 * DAY_MS))))).toBe(false);
    expect(await new UsageAnalyticsStore(ds).snapshot((s) => Promise.resolve(s.hasHoursSince(new Date(0))))).toBe(true);
  });
});
