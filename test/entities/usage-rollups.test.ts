import { randomUUID } from 'node:crypto';
import { latencyBucketOf, type UsageEvent } from '@aigw/core';
import {
  runMigrationsLocked,
  UsageAnalyticsStore,
  UsageStore,
  type AnalyticsGroupBy,
  type UsageSumsGroup,
} from '@aigw/entities';
import type { DataSource } from 'typeorm';
import { dropSchema, openDataSource, uniqueSchema } from './pg';

const USERS = [randomUUID(), randomUUID(), randomUUID()];
const KEYS = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
const DEPLOYMENTS: [string | null, string | null, string][] = [
  ['sim-openai', 'gpt-x', 'gpt-x'],
  ['sim-openai', 'gpt-mini', 'auto'],
  ['sim-anthropic', 'claude-x', 'claude-x'],
  [null, null, 'auto'],
];
const LATENCIES = [0, 3, 5, 9, 12, 48, 120, 480, 999, 1000, 2500, 31_000, 299_999, 300_000, 900_000];
const START = Date.UTC(2026, 9, 30, 21, 17, 0);

/** Deterministic, varied usage over ~5 days: several users, keys, deployments, outcomes and latencies. */
function events(count: number, seed: number): UsageEvent[] {
  return Array.from({ length: count }, (_, i) => {
    const n = seed * 1000 + i;
    const [provider, model, requestedModel] = DEPLOYMENTS[(n * 7) % DEPLOYMENTS.length];
    const error = provider === null || n % 11 === 0;
    return {
      requestId: `req_${randomUUID()}`,
      userId: USERS[n % USERS.length],
      apiKeyId: KEYS[(n * 3) % KEYS.length],
      requestedModel,
      provider,
      model,
      context: null,
      promptTokens: (n * 37) % 900,
      completionTokens: (n * 13) % 300,
      cachedTokens: (n * 5) % 100,
      costUsd: ((n * 7919) % 100_000) / 1e9 + (n % 3) * 0.0001,
      costSavedUsd: n % 5 === 0 ? 0.000123 : 0,
      latencyMs: LATENCIES[(n * 13) % LATENCIES.length],
      cached: n % 5 === 0,
      status: error ? 'error' : 'success',
      // Now and then a failure is the client leaving (it says nothing of the provider: no call in the rollups).
      errorClass: error ? (n % 22 === 0 ? 'cancelled' : 'network') : null,
      errorCode: error ? (n % 22 === 0 ? 'client_closed_request' : 'all_providers_failed') : null,
      // Now and then a coalesced follower: no provider call of its own.
      attempts: n % 13 === 6 ? 0 : 1,
      // Now and then a deployment failed first (a fallback): a row of its own, no request.
      failedAttempts:
        n % 4 === 1
          ? [
              {
                provider: DEPLOYMENTS[(n * 7 + 1) % 3][0]!,
                model: DEPLOYMENTS[(n * 7 + 1) % 3][1]!,
                errorClass: 'timeout',
                latencyMs: LATENCIES[(n * 5) % LATENCIES.length],
              },
            ]
          : undefined,
      policy: null,
      stream: false,
      // ~17 minutes apart with some jitter, batch after batch (150 slots each): ~5 days from START, partial hours
      // and days at every edge.
      createdAt: new Date(START + ((seed - 1) * 150 + i) * 1_013_117 + (n % 7) * 60_001).toISOString(),
    };
  });
}

interface RawRecord {
  user_id: string;
  provider: string | null;
  model: string | null;
  requested_model: string;
  status: string;
  cached: boolean;
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens: number;
  cost_usd: string;
  cost_saved_usd: string;
  latency_ms: number;
  created_at: Date;
  attempt_of: string | null;
  attempts: number;
  error_code: string | null;
}

/** The reference: every record of [from, to) read back and summed in JavaScript, with no rollup involved. */
async function direct(
  ds: DataSource,
  from: Date,
  to: Date,
  groupBy: AnalyticsGroupBy,
  userId?: string,
): Promise<UsageSumsGroup[]> {
  const rows = (
    await ds.query<RawRecord[]>(`SELECT * FROM usage_records WHERE created_at >= $1 AND created_at < $2`, [from, to])
  ).filter((r) => userId === undefined || r.user_id === userId);
  const keyOf = (r: RawRecord): string | null => {
    const t = r.created_at.getTime();
    switch (groupBy) {
      case 'provider':
        return r.provider;
      case 'model':
        return r.model ?? r.requested_model;
      case 'deployment':
        return `${r.provider ?? ''}/${r.model ?? r.requested_model}`;
      case 'user':
        return r.user_id;
      case 'day':
        return new Date(Math.floor(t / 86_400_000) * 86_400_000).toISOString();
      case 'hour':
        return new Date(Math.floor(t / 3_600_000) * 3_600_000).toISOString();
      case 'none':
        return null;
    }
  };
  const groups = new Map<string | null, UsageSumsGroup>();
  for (const r of rows) {
    const key = keyOf(r);
    let g = groups.get(key);
    if (g === undefined) {
      g = {
        key,
        requests: 0,
        successes: 0,
        cacheHits: 0,
        promptTokens: 0,
        completionTokens: 0,
        cachedTokens: 0,
        costUsd: 0,
        costSavedUsd: 0,
        latencySumMs: 0,
        latencyBuckets: new Array<number>(34).fill(0),
        failedAttempts: 0,
        calls: 0,
        failedCalls: 0,
        clientClosed: 0,
      };
      groups.set(key, g);
    }
    // A provider call of its own: not a response-cache hit, nor a coalesced follower (attempts 0), nor a request its
    // client left.
    if (r.attempts > 0 && !r.cached && r.error_code !== 'client_closed_request') {
      g.calls++;
      g.failedCalls += r.status === 'success' ? 0 : 1;
    }
    if (r.attempt_of !== null) {
      g.failedAttempts++;
      continue;
    }
    g.requests++;
    g.successes += r.status === 'success' ? 1 : 0;
    g.clientClosed += r.error_code === 'client_closed_request' ? 1 : 0;
    g.cacheHits += r.cached ? 1 : 0;
    g.promptTokens += r.prompt_tokens;
    g.completionTokens += r.completion_tokens;
    g.cachedTokens += r.cached_tokens;
    // Exact in nano-dollars, as numeric(18,9) sums are.
    g.costUsd += Math.round(Number(r.cost_usd) * 1e9);
    g.costSavedUsd += Math.round(Number(r.cost_saved_usd) * 1e9);
    g.latencySumMs += r.latency_ms;
    g.latencyBuckets[latencyBucketOf(r.latency_ms)]++;
  }
  const sorted = [...groups.values()].map((g) => ({
    ...g,
    costUsd: g.costUsd / 1e9,
    costSavedUsd: g.costSavedUsd / 1e9,
  }));
  sorted.sort((a, b) => (a.key === null ? 1 : b.key === null ? -1 : a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return sorted;
}

const ROLLUP_TABLES = ['usage_hourly', 'usage_daily', 'usage_deployment_hourly', 'usage_deployment_daily'];

async function rollupTotals(ds: DataSource, table: string): Promise<Record<string, string>> {
  const [row] = await ds.query<Record<string, string>[]>(
    `SELECT sum(requests) AS requests, sum(failed_attempts) AS attempts, sum(prompt_tokens) AS prompt, sum(cost_usd) AS cost,
            sum(latency_buckets[1]) AS b0, count(*) AS rows FROM ${table}`,
  );
  return row;
}

describe('usage rollups', () => {
  const schema = uniqueSchema('rollups');
  let ds: DataSource;
  let store: UsageStore;
  let analytics: UsageAnalyticsStore;
  const batches = [events(150, 1), events(150, 2), events(120, 3)];

  beforeAll(async () => {
    ds = await openDataSource(schema);
    await runMigrationsLocked(ds);
    store = new UsageStore(ds);
    analytics = new UsageAnalyticsStore(ds);
    // The first two batches race: their rollup rows overlap and must neither deadlock nor lose a sum.
    const inserted = await Promise.all([store.insertBatch(batches[0]), store.insertBatch(batches[1])]);
    expect(inserted).toEqual([150, 150]);
    // A re-delivered batch mixed with new rows: only the new rows count.
    expect(await store.insertBatch([...batches[0].slice(0, 40), ...batches[2]])).toBe(120);
  });

  afterAll(async () => {
    await ds.destroy();
    await dropSchema(schema);
  });

  const ranges: [string, string, string][] = [
    ['everything', '2026-10-01T00:00:00Z', '2026-12-01T00:00:00Z'],
    ['partial hours and days at both edges', '2026-10-30T22:41:13.250Z', '2026-11-02T17:05:00Z'],
    ['whole days only', '2026-10-31T00:00:00Z', '2026-11-02T00:00:00Z'],
    ['within one hour', '2026-10-31T05:10:00Z', '2026-10-31T05:50:00Z'],
    ['whole hours within a day', '2026-11-01T03:00:00Z', '2026-11-01T19:00:00Z'],
    ['hours across midnight', '2026-10-31T22:30:00Z', '2026-11-01T02:30:00Z'],
    ['under an hour across an hour', '2026-10-31T05:40:00Z', '2026-10-31T06:20:00Z'],
    ['under an hour across midnight', '2026-10-31T23:31:00Z', '2026-11-01T00:29:59.999Z'],
    ['ending a millisecond past an hour', '2026-10-31T02:00:00Z', '2026-11-01T06:00:00.001Z'],
    ['an empty range', '2026-11-20T00:00:00Z', '2026-11-21T00:00:00Z'],
  ];
  const groupBys: AnalyticsGroupBy[] = ['provider', 'model', 'deployment', 'user', 'day', 'hour', 'none'];

  it.each(ranges)('equal a direct aggregate over usage_records for %s, by every grouping', async (name, from, to) => {
    for (const groupBy of groupBys) {
      const range = { from: new Date(from), to: new Date(to) };
      const expected = await direct(ds, range.from, range.to, groupBy);
      if (groupBy === 'none') {
        // Each range but the empty one holds records: the comparison is not vacuous.
        expect({ name, records: expected.length === 0 ? 0 : expected[0].requests > 0 }).toEqual({
          name,
          records: name === 'an empty range' ? 0 : true,
        });
      }
      expect({ groupBy, groups: await analytics.aggregate({ ...range, groupBy }) }).toEqual({
        groupBy,
        groups: expected,
      });
      // Without the latency histograms: the same sums, all-zero histograms.
      expect({ groupBy, groups: await analytics.aggregate({ ...range, groupBy, latencies: false }) }).toEqual({
        groupBy,
        groups: expected.map((g) => ({ ...g, latencyBuckets: new Array<number>(34).fill(0) })),
      });
    }
  });

  it('reports nothing twice: the rollups hold exactly the 420 distinct records', async () => {
    const [{ count, attempts }] = await ds.query<{ count: string; attempts: string }[]>(
      `SELECT count(*) FILTER (WHERE attempt_of IS NULL) AS count, count(attempt_of) AS attempts FROM usage_records`,
    );
    const failed = String(batches.flat().filter((e) => e.failedAttempts !== undefined).length);
    expect(Number(count)).toBe(420);
    expect(attempts).toBe(failed);
    expect(Number(failed)).toBeGreaterThan(50);
    for (const table of ROLLUP_TABLES) {
      const totals = await rollupTotals(ds, table);
      expect({ table, requests: totals.requests, attempts: totals.attempts }).toEqual({
        table,
        requests: '420',
        attempts: failed,
      });
    }
    // The whole first batch again: nothing inserted, nothing added.
    const before = await Promise.all(ROLLUP_TABLES.map((t) => rollupTotals(ds, t)));
    expect(await store.insertBatch(batches[0])).toBe(0);
    expect(await Promise.all(ROLLUP_TABLES.map((t) => rollupTotals(ds, t)))).toEqual(before);
  });

  it("filters one user's usage", async () => {
    const all = await analytics.aggregate({
      from: new Date('2026-10-01T00:00:00Z'),
      to: new Date('2026-12-01T00:00:00Z'),
      groupBy: 'user',
    });
    const one = await analytics.aggregate({
      from: new Date('2026-10-01T00:00:00Z'),
      to: new Date('2026-12-01T00:00:00Z'),
      groupBy: 'provider',
      userId: USERS[1],
    });
    const requests = one.reduce((a, g) => a + g.requests, 0);
    expect(requests).toBe(all.find((g) => g.key === USERS[1])?.requests);
    expect(one.at(-1)?.key).toBeNull();
  });

  it.each(ranges.slice(0, 3))(
    "equal a direct aggregate of one user's records for %s, by every grouping (per-user rollups)",
    async (_, from, to) => {
      for (const groupBy of groupBys) {
        const range = { from: new Date(from), to: new Date(to) };
        const expected = await direct(ds, range.from, range.to, groupBy, USERS[2]);
        expect({ groupBy, groups: await analytics.aggregate({ ...range, groupBy, userId: USERS[2] }) }).toEqual({
          groupBy,
          groups: expected,
        });
      }
    },
  );

  it('the migration backfills the same rollups from existing records', async () => {
    // Undoing the failed attempts' migration drops their rows with their column: the requests' sums come back, and
    // the calls less the failed attempts' (each a failed call).
    const requestsOnly = (rows: Record<string, unknown>[]): unknown[] =>
      rows
        .filter((r) => r.requests !== 0)
        .map(({ failed_attempts: attempts, calls, failed_calls: failed, ...r }) => ({
          ...r,
          calls: Number(calls) - Number(attempts),
          failedCalls: Number(failed) - Number(attempts),
        }));
    const snapshot = async (): Promise<unknown[]> => [
      requestsOnly(await ds.query(`SELECT * FROM usage_hourly ORDER BY 1, 2, 3, 4, 5`)),
      requestsOnly(await ds.query(`SELECT * FROM usage_daily ORDER BY 1, 2, 3, 4, 5`)),
      requestsOnly(await ds.query(`SELECT * FROM usage_deployment_hourly ORDER BY 1, 2, 3`)),
      requestsOnly(await ds.query(`SELECT * FROM usage_deployment_daily ORDER BY 1, 2, 3`)),
    ];
    const written = await snapshot();
    // Undo down to (and including) the rollups' migration, then apply again: it backfills from usage_records, the
    // per-deployment rollups' migration from the per-user rollups.
    const applied = async (): Promise<string[]> =>
      (await ds.query<{ name: string }[]>(`SELECT name FROM migrations`)).map((m) => m.name);
    while ((await applied()).includes('UsageRollups1796000000000')) {
      await ds.undoLastMigration({ transaction: 'each' });
    }
    expect(await runMigrationsLocked(ds)).toContain('UsageRollups1796000000000');
    expect(await snapshot()).toEqual(written);
  });
});
