import { randomUUID } from 'node:crypto';
import { DAY_MS, HOUR_MS, type UsageEvent } from '@aigw/core';
import {
  retentionCutoffs,
  runMigrationsLocked,
  UsageAnalyticsStore,
  UsageRetentionStore,
  UsageStore,
  type UsageRetention,
} from '@aigw/entities';
import type { DataSource } from 'typeorm';
import { AnalyticsService } from '../../../apps/api-gateway/src/analytics/analytics.service';
import { dropSchema, openDataSource, uniqueSchema } from '../../entities/pg';
import { isAggregate, isBegin, isEdgesRead, watch } from '../../entities/query-watch';
import { usageEvent } from './admin-support';

const USER = randomUUID();
const KEY = randomUUID();
const NOW = Date.UTC(2026, 10, 8, 0, 0, 0);
const RETENTION: UsageRetention = { rawDays: 31, hourlyDays: 35, dailyDays: 0 };

function event(at: number, i: number): UsageEvent {
  return usageEvent(USER, {
    apiKeyId: KEY,
    requestedModel: 'gpt-x',
    provider: i % 2 === 0 ? 'sim-openai' : 'sim-anthropic',
    model: 'gpt-x',
    promptTokens: 10 + i,
    costUsd: 0.001 * (1 + (i % 3)),
    costSavedUsd: 0,
    latencyMs: 100 + i,
    createdAt: new Date(at).toISOString(),
  });
}

/** A request every 3 h 7 min over the 40 days before NOW: raw rows, hourly and daily rollups on both sides of the edges. */
const events = (): UsageEvent[] =>
  Array.from({ length: 300 }, (_, i) => event(NOW - 40 * DAY_MS + i * (3 * HOUR_MS + 7 * 60_000), i));

/**
 * The analytics answers read from one snapshot (real PostgreSQL, migrated): a usage row inserted, or a prune run,
 * between two of an answer's reads is in all of its figures or in none.
 */
describe('analytics answers from one snapshot', () => {
  const schemas: string[] = [];
  const sources: DataSource[] = [];

  async function fresh(): Promise<DataSource> {
    const schema = uniqueSchema('analytics_snapshot');
    schemas.push(schema);
    const ds = await openDataSource(schema);
    sources.push(ds);
    await runMigrationsLocked(ds);
    await new UsageStore(ds).insertBatch(events());
    return ds;
  }

  afterAll(async () => {
    for (const ds of sources) {
      await ds.destroy();
    }
    for (const schema of schemas) {
      await dropSchema(schema);
    }
  });

  afterEach(() => jest.restoreAllMocks());

  it('metrics: a row inserted between the figures and the series is in both or neither', async () => {
    const ds = await fresh();
    const w = watch(ds);
    // Edges from the retention (no read of their own): each aggregate's snapshot starts at its own statement.
    const service = new AnalyticsService(
      new UsageAnalyticsStore(
        ds,
        retentionCutoffs(RETENTION, () => NOW),
      ),
      () => new Date(NOW),
    );
    const range = { from: new Date(NOW - 2 * DAY_MS).toISOString(), to: new Date(NOW).toISOString() };
    const baseline = await service.metrics(range);
    expect(baseline.series.interval).toBe('hour');
    expect(baseline.requests).toBeGreaterThan(3);

    w.between(isAggregate, () => new UsageStore(ds).insertBatch([event(NOW - DAY_MS - 30 * 60_000, 999)]));
    w.queries.length = 0;
    const view = await service.metrics(range);
    await w.settled();
    const points = view.series.points.reduce((a, p) => a + p.requests, 0);
    // Totals and series agree, and are the snapshot's: the row came after it.
    expect(points).toBe(view.requests);
    expect(view.providers.reduce((a, p) => a + p.requests, 0)).toBe(view.requests);
    expect(view).toEqual(baseline);
    // One transaction for both aggregates.
    expect(w.queries.filter(isAggregate)).toHaveLength(2);
    expect(w.queries.filter(isBegin)).toHaveLength(1);

    // The row is there for the next answer, in every figure.
    const after = await service.metrics(range);
    expect(after.requests).toBe(baseline.requests + 1);
    expect(after.series.points.reduce((a, p) => a + p.requests, 0)).toBe(after.requests);
  });

  it('costs: a row inserted between the groups and the projection is in all of its figures or none', async () => {
    const ds = await fresh();
    const w = watch(ds);
    const service = new AnalyticsService(new UsageAnalyticsStore(ds, new UsageRetentionStore(ds)), () => new Date(NOW));
    // The month so far (Nov 1 to 8): the projection's month to date, and its last 7 full days too.
    const q = {
      from: new Date(Date.UTC(2026, 10, 1)).toISOString(),
      to: new Date(NOW).toISOString(),
      by: 'day' as const,
    };
    const baseline = await service.costs(q);
    expect(baseline.totalUsd).toBeGreaterThan(0);
    expect(baseline.projection.monthToDateUsd).toBe(baseline.totalUsd);
    expect(baseline.projection.dailyRateUsd * 7).toBeCloseTo(baseline.totalUsd, 6);

    w.between(isAggregate, () => new UsageStore(ds).insertBatch([event(NOW - DAY_MS - 30 * 60_000, 999)]));
    w.queries.length = 0;
    const view = await service.costs(q);
    await w.settled();
    // The groups, their total and the projection agree, and are the snapshot's: the row came after it.
    expect(view.projection.monthToDateUsd).toBe(view.totalUsd);
    // dailyRateUsd is rounded to 1e-9: 7 times it is within 7e-9 of the sum.
    expect(view.projection.dailyRateUsd * 7).toBeCloseTo(view.totalUsd, 6);
    expect(view).toEqual(baseline);
    // One transaction for the three aggregates (the groups, the month to date, the last days).
    expect(w.queries.filter(isAggregate)).toHaveLength(3);
    expect(w.queries.filter(isBegin)).toHaveLength(1);

    // The row is there for the next answer, in every figure.
    const after = await service.costs(q);
    expect(after.totalUsd).toBeGreaterThan(baseline.totalUsd);
    expect(after.projection.monthToDateUsd).toBe(after.totalUsd);
  });

  it('usage by hour: a prune between the hours check and the rows cannot change the answer', async () => {
    const ds = await fresh();
    const w = watch(ds);
    const service = new AnalyticsService(new UsageAnalyticsStore(ds, new UsageRetentionStore(ds)), () => new Date(NOW));
    // Past the hourly retention once pruned (35 days), kept until then.
    const q = {
      from: new Date(NOW - 36 * DAY_MS + 90 * 60_000).toISOString(),
      to: new Date(NOW - 34 * DAY_MS).toISOString(),
      groupBy: 'hour' as const,
    };
    const baseline = await service.usage(q);
    expect(baseline.from).toBe(q.from);
    expect(baseline.totals.requests).toBeGreaterThan(5);

    // The hours check (the first read of the edges) finds none; a prune records them and deletes meanwhile.
    w.between(isEdgesRead, () => new UsageRetentionStore(ds).prune(RETENTION, NOW));
    w.queries.length = 0;
    const view = await service.usage(q);
    await w.settled();
    expect(view).toEqual(baseline);
    expect(w.queries.filter(isEdgesRead)).toHaveLength(1);
    expect(w.queries.filter(isBegin)).toHaveLength(1);

    // Afterwards the hours are gone, and the answer says so.
    await expect(service.usage(q)).rejects.toMatchObject({ status: 400, param: 'from' });
  });

  it('metrics: a prune between the grain choice and the rows leaves one consistent answer', async () => {
    const ds = await fresh();
    const w = watch(ds);
    const service = new AnalyticsService(new UsageAnalyticsStore(ds, new UsageRetentionStore(ds)), () => new Date(NOW));
    const range = {
      from: new Date(NOW - 36 * DAY_MS + 90 * 60_000).toISOString(),
      to: new Date(NOW - 34 * DAY_MS).toISOString(),
    };
    const baseline = await service.metrics(range);
    expect(baseline.series.interval).toBe('hour');

    w.between(isEdgesRead, () => new UsageRetentionStore(ds).prune(RETENTION, NOW));
    w.queries.length = 0;
    const view = await service.metrics(range);
    await w.settled();
    expect(view).toEqual(baseline);
    expect(view.series.points.reduce((a, p) => a + p.requests, 0)).toBe(view.requests);
    // The answer's reads (the prune's writes aside): START TRANSACTION, SET, the edges, two aggregates, COMMIT.
    const reads = w.queries.filter((q) => !/^\s*(INSERT|DELETE|WITH)\b/i.test(q));
    expect(reads.map((q) => q.split(/\s/)[0])).toEqual(['START', 'SET', 'SELECT', 'SELECT', 'SELECT', 'COMMIT']);
    expect(reads.filter(isEdgesRead)).toHaveLength(1);
  });
});
