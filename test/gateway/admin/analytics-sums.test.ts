import { randomUUID } from 'node:crypto';
import type { FailedAttempt, UsageEvent } from '@aigw/core';
import { DataSource } from 'typeorm';
import { GatewayHarness } from '../support';
import { call, createKey, createUser, recordUsage, usageEvent } from './admin-support';

interface Figures {
  requests: number;
  successes: number;
  clientClosed: number;
  cacheHits: number;
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  costUsd: number;
  failedAttempts: number;
}

type Group = Figures & { key: string | null } & Record<string, unknown>;

const DAY = 86_400_000;
/** Four UTC days of traffic, read through ranges that start and end anywhere (partial hours and days). */
const BASE = Date.UTC(2026, 9, 10);
const SPAN = 4 * DAY;

/** The group key of a usage_records row, as each grouping defines it (UsageSumsGroup). */
const KEY_SQL: Record<string, string> = {
  provider: `COALESCE(provider, '')`,
  model: `COALESCE(model, requested_model)`,
  user: `user_id::text`,
  day: `to_char(date_trunc('day', created_at, 'UTC'), 'YYYY-MM-DD')`,
  hour: `to_char(date_trunc('hour', created_at, 'UTC'), 'YYYY-MM-DD"T"HH24:MI:SS".000Z"')`,
};

/**
 * The analytics answer from rollups wherever they cover a range and from usage_records at its edges (ADR 0009): for
 * random traffic (failed attempts charged or not, requests nobody answered, cache hits, requests their client left)
 * and random ranges, every grouping of the admin and the caller's own usage views counts what a direct sum over
 * usage_records counts.
 */
describe('usage analytics against direct sums over usage_records', () => {
  const h = new GatewayHarness();
  const users: string[] = [];
  let userKey = '';
  // A fixed-seed generator: a failure names the case, and a rerun repeats it.
  let seed = 20261010;
  const rnd = (): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const randomRange = (): { from: string; to: string } => {
    const a = BASE - DAY / 2 + Math.floor(rnd() * (SPAN + DAY));
    const b = a + 1 + Math.floor(rnd() * (BASE + SPAN + DAY / 2 - a));
    return { from: new Date(a).toISOString(), to: new Date(b).toISOString() };
  };

  beforeAll(async () => {
    await h.start();
    for (const name of ['sums-a', 'sums-b', 'sums-c']) {
      users.push((await createUser(h, name)).id);
    }
    userKey = (await createKey(h, { userId: users[0] })).key;
    const events: UsageEvent[] = [];
    for (let i = 0; i < 400; i++) {
      const provider = pick(['p1', 'p2', null, 'p1']);
      const status = pick(['success', 'success', 'error'] as const);
      const clientLeft = status === 'error' && rnd() < 0.4;
      const failed: FailedAttempt[] | undefined =
        rnd() < 0.2
          ? [
              {
                provider: pick(['p1', 'p2', 'p3']),
                model: pick(['m1', 'm2']),
                errorClass: 'timeout',
                latencyMs: 100,
                ...(rnd() < 0.5
                  ? { charged: { promptTokens: 3, completionTokens: 1, cachedTokens: 0, costUsd: 0.000000123 } }
                  : {}),
              },
            ]
          : undefined;
      events.push(
        usageEvent(pick(users), {
          requestId: `req_${randomUUID()}`,
          createdAt: new Date(BASE + Math.floor(rnd() * SPAN)).toISOString(),
          provider,
          model: provider === null ? null : pick(['m1', 'm2']),
          requestedModel: pick(['m1', 'auto']),
          status,
          errorCode: clientLeft ? 'client_closed_request' : status === 'error' ? 'provider_error' : null,
          cached: status === 'success' && rnd() < 0.2,
          costUsd: Math.round(rnd() * 1e6) / 1e9,
          promptTokens: Math.floor(rnd() * 1000),
          completionTokens: Math.floor(rnd() * 1000),
          cachedTokens: Math.floor(rnd() * 10),
          latencyMs: Math.floor(rnd() * 3000),
          failedAttempts: failed,
        }),
      );
    }
    await recordUsage(h, events);
  }, 60_000);
  afterAll(() => h.stop(), 30_000);

  async function direct(
    groupBy: string,
    from: string,
    to: string,
    userId?: string,
  ): Promise<Map<string | null, Figures>> {
    const rows = await h.app.get(DataSource).query<Record<string, string>[]>(
      `SELECT ${KEY_SQL[groupBy]} AS key, count(*) FILTER (WHERE attempt_of IS NULL) AS requests,
              count(*) FILTER (WHERE attempt_of IS NULL AND status = 'success') AS successes,
              count(*) FILTER (WHERE attempt_of IS NULL AND error_code = 'client_closed_request') AS client_closed,
              count(*) FILTER (WHERE cached) AS cache_hits, sum(prompt_tokens) AS prompt,
              sum(completion_tokens) AS completion, sum(cached_tokens) AS cached, sum(cost_usd) AS cost,
              count(*) FILTER (WHERE attempt_of IS NOT NULL) AS failed_attempts
         FROM usage_records
        WHERE created_at >= $1 AND created_at < $2 ${userId === undefined ? '' : 'AND user_id = $3'}
        GROUP BY 1`,
      userId === undefined ? [from, to] : [from, to, userId],
    );
    return new Map(
      rows.map((r) => [
        groupBy === 'provider' && r.key === '' ? null : r.key,
        {
          requests: Number(r.requests),
          successes: Number(r.successes),
          clientClosed: Number(r.client_closed),
          cacheHits: Number(r.cache_hits),
          promptTokens: Number(r.prompt),
          completionTokens: Number(r.completion),
          cachedTokens: Number(r.cached),
          costUsd: Number(r.cost),
          failedAttempts: Number(r.failed_attempts),
        },
      ]),
    );
  }

  /** Costs compared in nanodollars (numeric(18,9)): a float sum is equal to that precision. */
  const nano = (usd: number): number => Math.round(usd * 1e9);

  it('GET /admin/usage: every group of every grouping, for random ranges', async () => {
    const mismatches: string[] = [];
    let compared = 0;
    for (let i = 0; i < 25; i++) {
      const { from, to } = randomRange();
      for (const groupBy of ['provider', 'model', 'user', 'day', 'hour']) {
        const res = await call<{ groups: Group[] }>(
          h,
          'GET',
          `/api/v1/ai/admin/usage?from=${from}&to=${to}&groupBy=${groupBy}&limit=1000`,
        );
        expect(res.status).toBe(200);
        const want = await direct(groupBy, from, to);
        const got = new Map(res.body.groups.map((g) => [g.key, g]));
        expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
        for (const [key, w] of want) {
          const g = got.get(key) as Group;
          const shown = { ...w, costUsd: nano(w.costUsd) };
          const answered = Object.fromEntries(
            Object.keys(w).map((f) => [f, f === 'costUsd' ? nano(g.costUsd) : g[f as keyof Figures]]),
          );
          if (JSON.stringify(answered) !== JSON.stringify(shown)) {
            mismatches.push(
              `${from}..${to} by ${groupBy}, ${key}: ${JSON.stringify(answered)} != ${JSON.stringify(shown)}`,
            );
          }
          compared++;
        }
      }
    }
    expect(mismatches).toEqual([]);
    expect(compared).toBeGreaterThan(300);
  });

  it("GET /usage: the caller's own totals and groups, for random ranges", async () => {
    for (let i = 0; i < 15; i++) {
      const { from, to } = randomRange();
      for (const groupBy of ['provider', 'model', 'day']) {
        const res = await call<{ totals: Record<string, number>; groups: Record<string, string | number | null>[] }>(
          h,
          'GET',
          `/api/v1/ai/usage?from=${from}&to=${to}&groupBy=${groupBy}`,
          undefined,
          userKey,
        );
        expect(res.status).toBe(200);
        const want = await direct(groupBy, from, to, users[0]);
        const all = [...want.values()];
        const sum = (f: (w: Figures) => number): number => all.reduce((a, w) => a + f(w), 0);
        expect({ ...res.body.totals, costUsd: nano(res.body.totals.costUsd) }).toEqual({
          requests: sum((w) => w.requests),
          promptTokens: sum((w) => w.promptTokens),
          completionTokens: sum((w) => w.completionTokens),
          cachedPromptTokens: sum((w) => w.cachedTokens),
          cachedRequests: sum((w) => w.cacheHits),
          costUsd: nano(sum((w) => w.costUsd)),
        });
        for (const g of res.body.groups) {
          const w = want.get(g[groupBy] as string | null);
          expect({ range: `${from}..${to}`, requests: g.requests, hits: g.cachedRequests }).toEqual({
            range: `${from}..${to}`,
            requests: w?.requests,
            hits: w?.cacheHits,
          });
        }
      }
    }
  });

  it('GET /metrics and /admin/costs: totals, series and cost groups, for random ranges', async () => {
    for (let i = 0; i < 10; i++) {
      const { from, to } = randomRange();
      const want = [...(await direct('provider', from, to)).values()];
      const sum = (f: (w: Figures) => number): number => want.reduce((a, w) => a + f(w), 0);
      const metrics = await call<{
        requests: number;
        failures: number;
        costUsd: number;
        series: { points: { requests: number; failures: number }[] };
      }>(h, 'GET', `/api/v1/ai/metrics?from=${from}&to=${to}`);
      expect(metrics.status).toBe(200);
      const failures = sum((w) => w.requests - w.successes - w.clientClosed);
      expect([metrics.body.requests, metrics.body.failures, nano(metrics.body.costUsd)]).toEqual([
        sum((w) => w.requests),
        failures,
        nano(sum((w) => w.costUsd)),
      ]);
      const points = metrics.body.series.points;
      expect([points.reduce((a, p) => a + p.requests, 0), points.reduce((a, p) => a + p.failures, 0)]).toEqual([
        metrics.body.requests,
        failures,
      ]);
      for (const by of ['provider', 'user', 'day']) {
        const costs = await call<{ totalUsd: number; groups: { costUsd: number; requests: number }[] }>(
          h,
          'GET',
          `/api/v1/ai/admin/costs?from=${from}&to=${to}&by=${by}`,
        );
        expect(nano(costs.body.totalUsd)).toBe(nano(sum((w) => w.costUsd)));
        expect(costs.body.groups.reduce((a, g) => a + g.requests, 0)).toBe(sum((w) => w.requests));
      }
    }
  });
});
