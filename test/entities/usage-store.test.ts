import { randomUUID } from 'node:crypto';
import type { UsageEvent } from '@aigw/core';
import {
  DeploymentStatsStore,
  QuotaUsageStore,
  runMigrationsLocked,
  UsageAnalyticsStore,
  UsageDeploymentDailyEntity,
  UsageRecordEntity,
  UsageStore,
  type UsageSumsGroup,
} from '@aigw/entities';
import type { DataSource } from 'typeorm';
import { dropSchema, openDataSource, uniqueSchema } from './pg';

const USER = randomUUID();
const KEY = randomUUID();

function event(overrides: Partial<UsageEvent> = {}): UsageEvent {
  return {
    requestId: `req_${randomUUID().replace(/-/g, '')}`,
    userId: USER,
    apiKeyId: KEY,
    requestedModel: 'sim-shared',
    provider: 'sim-openai',
    model: 'sim-shared',
    context: null,
    promptTokens: 120,
    completionTokens: 30,
    cachedTokens: 100,
    costUsd: 0.000123456,
    latencyMs: 250,
    cached: false,
    status: 'success',
    errorClass: null,
    errorCode: null,
    attempts: 1,
    policy: 'cost',
    stream: false,
    createdAt: '2026-11-20T10:00:00.000Z',
    ...overrides,
  };
}

describe('UsageStore', () => {
  const schema = uniqueSchema('usage');
  let ds: DataSource;
  let store: UsageStore;

  beforeAll(async () => {
    ds = await openDataSource(schema);
    await runMigrationsLocked(ds);
    store = new UsageStore(ds);
  });

  afterAll(async () => {
    await ds.destroy();
    await dropSchema(schema);
  });

  it('inserts a batch, skipping request ids already recorded or repeated in the batch', async () => {
    const first = event();
    expect(await store.insertBatch([first])).toBe(1);

    const failed = event({
      provider: null,
      model: null,
      context: 'coding',
      status: 'error',
      errorClass: 'network',
      errorCode: 'all_providers_failed',
      attempts: 3,
      policy: null,
      stream: true,
      costUsd: 0,
    });
    const cached = event({ cached: true, costUsd: 1.5e-8, latencyMs: 2.6 });
    expect(await store.insertBatch([first, failed, cached, { ...cached, latencyMs: 9 }])).toBe(2);
    expect(await store.insertBatch([])).toBe(0);

    const repo = ds.getRepository(UsageRecordEntity);
    expect(await repo.count()).toBe(3);
    const stored = await repo.findOneByOrFail({ requestId: failed.requestId });
    expect(stored).toMatchObject({
      provider: null,
      model: null,
      context: 'coding',
      status: 'error',
      errorClass: 'network',
      errorCode: 'all_providers_failed',
      attempts: 3,
      policy: null,
      stream: true,
      costUsd: 0,
    });
    expect(stored.createdAt.toISOString()).toBe('2026-11-20T10:00:00.000Z');

    const firstRow = await repo.findOneByOrFail({ requestId: first.requestId });
    expect(firstRow.costUsd).toBe(0.000123456);
    expect(firstRow).toMatchObject({ promptTokens: 120, completionTokens: 30, cachedTokens: 100, latencyMs: 250 });
    const cachedRow = await repo.findOneByOrFail({ requestId: cached.requestId });
    expect(cachedRow).toMatchObject({ cached: true, costUsd: 1.5e-8, latencyMs: 3 });
  });

  it('inserts more rows in one call than a VALUES list could bind parameters for', async () => {
    // 20 columns × 4000 rows = 80000 values, past PostgreSQL's 65535 bind parameters.
    const batch = Array.from({ length: 4000 }, () => event());
    expect(await store.insertBatch(batch)).toBe(4000);
    expect(await store.insertBatch(batch)).toBe(0);
  });

  it('records an event whose provider reported counts past the columns, and the events batched with it', async () => {
    // An OpenAI-compatible server reporting 3 billion prompt tokens: the statement failed on the integer column, so the
    // batch (and every job in it) was retried for hours and never written.
    const day = '2026-10-07T09:00:00.000Z';
    const normal = event({ createdAt: day });
    const huge = event({ createdAt: day, promptTokens: 3e9, completionTokens: 5, cachedTokens: -3e9, costUsd: 3e9 });
    expect(await store.insertBatch([normal, huge])).toBe(2);

    const repo = ds.getRepository(UsageRecordEntity);
    expect(await repo.findOneByOrFail({ requestId: huge.requestId })).toMatchObject({
      promptTokens: 2_147_483_647,
      completionTokens: 5,
      cachedTokens: -2_147_483_648,
      costUsd: 999_999_999,
    });
    const rollup = await ds
      .getRepository(UsageDeploymentDailyEntity)
      .findOneByOrFail({ day: new Date(day.slice(0, 10)) });
    expect(rollup).toMatchObject({ requests: 2, promptTokens: String(120 + 2_147_483_647) });
  });

  it("keeps writing a deployment's usage once its rollups' cost sums pass the columns", async () => {
    // Each record's cost is bounded by its column (numeric(18,9)), but a rollup row sums a whole hour or day of them
    // into numeric(20,9): the 101st record at the bound in one day overflowed it. From then on every batch holding
    // that deployment's usage of the day failed, with every job batched with it, until their attempts ran out.
    const day = '2026-10-08T09:00:00.000Z';
    const huge = (): UsageEvent => event({ createdAt: day, costUsd: 3e9 });
    // Past the column within one statement (the batch's own sum), then past it again adding to the stored sum.
    expect(await store.insertBatch(Array.from({ length: 101 }, huge))).toBe(101);
    const normal = event({ createdAt: day });
    expect(await store.insertBatch([huge(), normal])).toBe(2);
    expect(await ds.getRepository(UsageRecordEntity).findOneByOrFail({ requestId: normal.requestId })).toBeTruthy();
    const rollup = await ds
      .getRepository(UsageDeploymentDailyEntity)
      .findOneByOrFail({ day: new Date(day.slice(0, 10)) });
    // The requests are all counted; the cost stays at the most the column holds.
    expect(rollup).toMatchObject({ requests: 103 });
    expect(rollup.costUsd).toBeCloseTo(1e11, 0);
  });

  it("averages a deployment's latency by its own calls, not the request's time behind other deployments' failures", async () => {
    // lat-b answered in 200 ms, after lat-a had hung for 5 s: the request took 5.2 s. Its row's latency_ms is the
    // request's (analytics), which the models listing and the latency policy's history read as lat-b's, so one slow
    // failure elsewhere made lat-b look 26 times slower than it is.
    const now = new Date();
    const answered = event({
      provider: 'lat-b',
      model: 'shared',
      latencyMs: 5200,
      providerLatencyMs: 200,
      attempts: 2,
      createdAt: now.toISOString(),
      failedAttempts: [{ provider: 'lat-a', model: 'shared', errorClass: 'timeout', latencyMs: 5000 }],
    });
    // A row written before the provider's own latency was recorded still counts by the request's.
    const older = event({ provider: 'lat-c', model: 'shared', latencyMs: 300, createdAt: now.toISOString() });
    expect(await store.insertBatch([answered, older])).toBe(2);
    const row = await ds.getRepository(UsageRecordEntity).findOneByOrFail({ requestId: answered.requestId });
    expect(row).toMatchObject({ latencyMs: 5200, providerLatencyMs: 200 });

    const stats = await new DeploymentStatsStore(ds).since(new Date(now.getTime() - 60_000));
    const of = (provider: string) => stats.find((s) => s.provider === provider);
    expect(of('lat-b')).toMatchObject({ successes: 1, avgLatencyMs: 200 });
    expect(of('lat-c')).toMatchObject({ successes: 1, avgLatencyMs: 300 });
  });

  it("stores a fallback's failed attempts for their deployments, not as requests of the user", async () => {
    // pa failed twice (two deployments' worth of attempts), pb answered: the listing counted pb's answer only, so pa
    // looked perfect. The request must still count once for the user's quota and the analytics.
    const user = randomUUID();
    const now = new Date();
    const answered = event({
      userId: user,
      provider: 'fb-b',
      model: 'shared',
      latencyMs: 700,
      attempts: 3,
      createdAt: now.toISOString(),
      failedAttempts: [
        { provider: 'fb-a', model: 'shared', errorClass: 'provider', latencyMs: 300 },
        { provider: 'fb-c', model: 'shared', errorClass: 'timeout', latencyMs: 200 },
      ],
    });
    expect(await store.insertBatch([answered])).toBe(1);
    // A redelivered job stores neither the request nor its attempts again.
    expect(await store.insertBatch([answered])).toBe(0);

    const rows = await ds
      .getRepository(UsageRecordEntity)
      .find({ where: { userId: user }, order: { requestId: 'ASC' } });
    expect(rows.map((r) => [r.requestId, r.attemptOf, r.provider, r.status, r.errorClass, r.costUsd])).toEqual([
      [answered.requestId, null, 'fb-b', 'success', null, 0.000123456],
      [`${answered.requestId}#1`, answered.requestId, 'fb-a', 'error', 'provider', 0],
      [`${answered.requestId}#2`, answered.requestId, 'fb-c', 'error', 'timeout', 0],
    ]);
    expect(rows[1]).toMatchObject({ promptTokens: 0, completionTokens: 0, latencyMs: 300, apiKeyId: KEY });

    const stats = await new DeploymentStatsStore(ds).since(new Date(now.getTime() - 60_000));
    const of = (provider: string) => stats.find((s) => s.provider === provider);
    expect(of('fb-a')).toEqual({ provider: 'fb-a', model: 'shared', requests: 1, successes: 0, avgLatencyMs: null });
    expect(of('fb-c')).toMatchObject({ requests: 1, successes: 0 });
    expect(of('fb-b')).toMatchObject({ requests: 1, successes: 1, avgLatencyMs: 700 });

    const dayStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
    const monthStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
    const quota = new QuotaUsageStore(ds);
    expect(await quota.userTotals(user, dayStart, monthStart)).toMatchObject({
      dailyRequests: 1,
      monthlyRequests: 1,
      dailySpendUsd: 0.000123456,
    });
    expect((await quota.periodTotals(dayStart, monthStart)).find((t) => t.userId === user)).toMatchObject({
      dailyRequests: 1,
      monthlyRequests: 1,
    });
    // From the rollups (whole days) and from the raw rows (the current hour), by user and by deployment.
    const analytics = new UsageAnalyticsStore(ds);
    const range = { from: new Date(dayStart.getTime() - 86_400_000), to: new Date(now.getTime() + 60_000) };
    const byUser = await analytics.aggregate({ ...range, groupBy: 'none', userId: user });
    expect(byUser).toMatchObject([{ requests: 1, successes: 1 }]);
    // By provider, each failed attempt shows where it failed, apart from the requests.
    const raw = await analytics.aggregate({ from: new Date(now.getTime() - 1), to: range.to, groupBy: 'provider' });
    const figures = (groups: UsageSumsGroup[]) =>
      groups.map((g) => [g.key, g.requests, g.failedAttempts, g.latencySumMs]);
    expect(figures(raw)).toEqual([
      ['fb-a', 0, 1, 0],
      ['fb-b', 1, 0, 700],
      ['fb-c', 0, 1, 0],
    ]);
    const daily = await ds.getRepository(UsageDeploymentDailyEntity).findBy({ day: dayStart });
    const ours = daily.filter((r) => r.provider.startsWith('fb-')).sort((a, b) => (a.provider < b.provider ? -1 : 1));
    expect(ours.map((r) => [r.provider, r.requests, r.failedAttempts, Number(r.latencySumMs)])).toEqual(figures(raw));
  });
});
