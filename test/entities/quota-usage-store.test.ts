import { randomUUID } from 'node:crypto';
import type { UsageEvent } from '@aigw/core';
import { QuotaUsageStore, runMigrationsLocked, UsageStore, type QuotaUsageRow } from '@aigw/entities';
import type { DataSource } from 'typeorm';
import { dropSchema, openDataSource, uniqueSchema } from './pg';
import { isAggregate, isBegin, watch } from './query-watch';

const KEY = randomUUID();

function event(userId: string, createdAt: string, costUsd: number): UsageEvent {
  return {
    requestId: `req_${randomUUID().replace(/-/g, '')}`,
    userId,
    apiKeyId: KEY,
    requestedModel: 'sim-gpt',
    provider: 'sim-openai',
    model: 'sim-gpt',
    context: null,
    promptTokens: 10,
    completionTokens: 5,
    cachedTokens: 0,
    costUsd,
    latencyMs: 100,
    cached: false,
    status: 'success',
    errorClass: null,
    errorCode: null,
    attempts: 1,
    policy: null,
    stream: false,
    createdAt,
  };
}

/**
 * One user's quota totals (the quota part of GET /api/v1/ai/usage and of the admin quota view) from the rollups: the
 * same figures as the raw count over usage_records, resets in the middle of a day or hour included.
 */
describe('QuotaUsageStore.userTotals', () => {
  const schema = uniqueSchema('quota_usage');
  let ds: DataSource;
  let store: QuotaUsageStore;
  const withReset = randomUUID();
  const plain = randomUUID();
  const other = randomUUID();
  const dayStart = new Date('2026-11-20T00:00:00.000Z');
  const monthStart = new Date('2026-11-01T00:00:00.000Z');

  beforeAll(async () => {
    ds = await openDataSource(schema);
    await runMigrationsLocked(ds);
    store = new QuotaUsageStore(ds);
    for (const [id, name] of [
      [withReset, 'with-reset'],
      [plain, 'plain'],
      [other, 'other'],
    ]) {
      await ds.query(`INSERT INTO "${schema}".users (id, name) VALUES ($1, $2)`, [id, name]);
    }
    await ds.query(
      `INSERT INTO "${schema}".user_quotas (user_id, daily_reset_at, monthly_reset_at) VALUES ($1, $2, $3)`,
      [withReset, '2026-11-20T10:30:00.250Z', '2026-11-05T12:34:56.789Z'],
    );
    const times = [
      '2026-10-31T23:59:59.999Z',
      '2026-11-01T00:00:00.000Z',
      '2026-11-05T12:34:56.788Z',
      '2026-11-05T12:34:56.789Z',
      '2026-11-05T12:59:59.999Z',
      '2026-11-05T13:00:00.000Z',
      '2026-11-12T08:00:00.000Z',
      '2026-11-19T23:59:59.999Z',
      '2026-11-20T00:00:00.000Z',
      '2026-11-20T10:30:00.249Z',
      '2026-11-20T10:30:00.250Z',
      '2026-11-20T10:59:59.999Z',
      '2026-11-20T17:45:00.000Z',
    ];
    const usage = new UsageStore(ds);
    await usage.insertBatch(
      [withReset, plain, other].flatMap((u, j) => times.map((t, i) => event(u, t, 0.000001 * (i + 1) * (j + 1)))),
    );
  });

  afterAll(async () => {
    await ds.destroy();
    await dropSchema(schema);
  });

  /** One user's row of the raw count over usage_records (what rebuilds every user's Redis counters). */
  async function rawTotalsOf(user: string): Promise<QuotaUsageRow | undefined> {
    return (await store.periodTotals(dayStart, monthStart)).find((r) => r.userId === user);
  }

  it('counts what the raw count over usage_records counts, since the period start or the reset', async () => {
    for (const user of [withReset, plain]) {
      const raw = await rawTotalsOf(user);
      expect(await store.userTotals(user, dayStart, monthStart)).toEqual(raw);
    }
    expect(await store.userTotals(withReset, dayStart, monthStart)).toMatchObject({
      dailyRequests: 3,
      monthlyRequests: 10,
    });
    expect(await store.userTotals(plain, dayStart, monthStart)).toMatchObject({
      dailyRequests: 5,
      monthlyRequests: 12,
    });
    expect(await store.userTotals(randomUUID(), dayStart, monthStart)).toMatchObject({
      dailyRequests: 0,
      dailySpendUsd: 0,
      monthlyRequests: 0,
      monthlySpendUsd: 0,
    });
  });

  it('reads the day and the month from one snapshot: a row inserted between them is in both or neither', async () => {
    const user = randomUUID();
    await ds.query(`INSERT INTO "${schema}".users (id, name) VALUES ($1, $2)`, [user, 'racing']);
    const usage = new UsageStore(ds);
    await usage.insertBatch(['2026-11-03T08:00:00.000Z', '2026-11-20T09:00:00.000Z'].map((t) => event(user, t, 0.001)));
    const baseline = await store.userTotals(user, dayStart, monthStart);
    expect(baseline).toMatchObject({ dailyRequests: 1, monthlyRequests: 2 });

    const w = watch(ds);
    try {
      // Today's: in the day and the month alike.
      w.between(isAggregate, () => usage.insertBatch([event(user, '2026-11-20T09:30:00.000Z', 0.001)]));
      const totals = await store.userTotals(user, dayStart, monthStart);
      await w.settled();
      expect(totals).toEqual(baseline);
      expect(w.queries.filter(isAggregate)).toHaveLength(2);
      expect(w.queries.filter(isBegin)).toHaveLength(1);
    } finally {
      jest.restoreAllMocks();
    }
    expect(await store.userTotals(user, dayStart, monthStart)).toMatchObject({ dailyRequests: 2, monthlyRequests: 3 });
  });

  it('reads the rollups for whole days and hours, not every record of the month', async () => {
    // Records of whole days and hours deleted by hand: a raw count misses them, the rollups still hold them.
    await ds.query(
      `DELETE FROM "${schema}".usage_records WHERE user_id = $1 AND created_at >= '2026-11-06' AND created_at < '2026-11-20'`,
      [plain],
    );
    const raw = await rawTotalsOf(plain);
    expect(raw?.monthlyRequests).toBe(10);
    expect(await store.userTotals(plain, dayStart, monthStart)).toMatchObject({ monthlyRequests: 12 });
  });

  it('counts what failed attempts were charged in the spend, not in the requests, in the raw count and the rollups', async () => {
    const user = randomUUID();
    await ds.query(`INSERT INTO "${schema}".users (id, name) VALUES ($1, $2)`, [user, 'charged']);
    const e = event(user, '2026-11-20T11:00:00.000Z', 0.001);
    e.attempts = 2;
    e.failedAttempts = [
      {
        provider: 'pv',
        model: 'sim-gpt',
        errorClass: 'provider',
        latencyMs: 10,
        charged: { promptTokens: 1000, completionTokens: 500, cachedTokens: 0, costUsd: 0.02 },
      },
    ];
    await new UsageStore(ds).insertBatch([e]);
    const expected = { dailyRequests: 1, monthlyRequests: 1 };
    const raw = await rawTotalsOf(user);
    expect(raw).toMatchObject(expected);
    expect(raw?.dailySpendUsd).toBeCloseTo(0.021, 9);
    expect(raw?.monthlySpendUsd).toBeCloseTo(0.021, 9);
    expect(await store.userTotals(user, dayStart, monthStart)).toEqual(raw);
  });
});
