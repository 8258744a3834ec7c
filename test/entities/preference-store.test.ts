import { randomUUID } from 'node:crypto';
import type { UsageEvent } from '@aigw/core';
import {
  DeploymentStatsStore,
  PreferenceStore,
  type PreferenceRecord,
  ProviderEntity,
  runMigrationsLocked,
  UsageStore,
  UserEntity,
} from '@aigw/entities';
import type { AfterQueryEvent, DataSource, EntitySubscriberInterface } from 'typeorm';
import { dropSchema, openDataSource, uniqueSchema } from './pg';

const HOUR = 3_600_000;

interface PlanNode {
  'Relation Name'?: string;
  'Actual Rows': number;
  'Actual Loops': number;
  'Rows Removed by Filter'?: number;
  Plans?: PlanNode[];
}

/** Rows a plan's scans of `table` went through (kept or filtered out), over every loop. */
function rowsRead(node: PlanNode, table: string): number {
  const own =
    node['Relation Name'] === table
      ? (node['Actual Rows'] + (node['Rows Removed by Filter'] ?? 0)) * node['Actual Loops']
      : 0;
  return own + (node.Plans ?? []).reduce((sum, child) => sum + rowsRead(child, table), 0);
}

describe('PreferenceStore and DeploymentStatsStore', () => {
  const schema = uniqueSchema('prefs');
  let ds: DataSource;
  let prefs: PreferenceStore;
  let usage: UsageStore;
  let alice: string;
  let bob: string;

  function event(userId: string, overrides: Partial<UsageEvent> = {}): UsageEvent {
    return {
      requestId: `req_${randomUUID().replace(/-/g, '')}`,
      userId,
      apiKeyId: randomUUID(),
      requestedModel: 'm1',
      provider: 'pa',
      model: 'm1',
      context: null,
      promptTokens: 10,
      completionTokens: 5,
      cachedTokens: 0,
      costUsd: 0.25,
      latencyMs: 100,
      cached: false,
      status: 'success',
      errorClass: null,
      errorCode: null,
      attempts: 1,
      policy: 'preference',
      stream: false,
      createdAt: new Date(Date.now() - HOUR).toISOString(),
      ...overrides,
    };
  }

  beforeAll(async () => {
    ds = await openDataSource(schema);
    await runMigrationsLocked(ds);
    prefs = new PreferenceStore(ds);
    usage = new UsageStore(ds);
    const users = ds.getRepository(UserEntity);
    alice = (await users.save({ name: 'alice' })).id;
    bob = (await users.save({ name: 'bob' })).id;
  });

  afterAll(async () => {
    await ds.destroy();
    await dropSchema(schema);
  });

  it('upserts one row per user and context, and lists it with the usage of the last 30 days', async () => {
    await usage.insertBatch([
      event(alice),
      event(alice, { costUsd: 0.5 }),
      // A request that failed on it was not answered by it (a cut stream's cost is still paid).
      event(alice, { status: 'error', errorClass: 'provider', errorCode: 'all_providers_failed', costUsd: 0 }),
      event(alice, { status: 'error', errorClass: 'provider', errorCode: 'provider_error', costUsd: 0.125 }),
      // Other deployments, other users, older than 30 days: not counted.
      event(alice, { provider: 'pb' }),
      event(alice, { model: 'm2' }),
      event(bob),
      event(alice, { createdAt: new Date(Date.now() - 31 * 24 * HOUR).toISOString() }),
    ]);
    const stored = await prefs.upsert(alice, { context: '', provider: 'pa', model: 'm1' });
    expect(stored).toMatchObject({ context: '', provider: 'pa', model: 'm1', usageCount: 0, lastUsedAt: null });
    expect(stored.requests).toBe(2);
    expect(stored.costUsd).toBeCloseTo(0.875, 9);

    await prefs.upsert(alice, { context: 'coding', provider: 'pb', model: 'm1' });
    const again = await prefs.upsert(alice, { context: 'coding', provider: 'pb', model: 'm1' });
    expect(again.requests).toBe(1);
    expect((await prefs.list(alice)).map((p) => [p.context, p.provider, p.model])).toEqual([
      ['', 'pa', 'm1'],
      ['coding', 'pb', 'm1'],
    ]);
    expect(await prefs.list(bob)).toEqual([]);
  });

  it('advances the counters of many preferences in one write; re-pointing a preference starts them afresh', async () => {
    const t1 = new Date(Date.now() - 5_000);
    const t2 = new Date(Date.now() - 1_000);
    await prefs.recordUses(
      [
        { userId: alice, context: '', preferred: 'pa/m1', count: 3, lastUsedAt: t2 },
        { userId: alice, context: 'coding', preferred: 'pb/m1', count: 1, lastUsedAt: t1 },
        // No such preference: matches nothing.
        { userId: bob, context: '', preferred: 'pa/m1', count: 7, lastUsedAt: t2 },
      ],
      randomUUID(),
    );
    await prefs.recordUses(
      [{ userId: alice, context: '', preferred: 'pa/m1', count: 2, lastUsedAt: t1 }],
      randomUUID(),
    );
    const [defaultPref, coding] = await prefs.list(alice);
    expect(defaultPref.usageCount).toBe(5);
    // An older flush never moves lastUsedAt back.
    expect(defaultPref.lastUsedAt?.getTime()).toBe(t2.getTime());
    expect(coding.usageCount).toBe(1);
    expect(await prefs.list(bob)).toEqual([]);

    expect((await prefs.upsert(alice, { context: '', provider: 'pa', model: 'm1' })).usageCount).toBe(5);
    const moved = await prefs.upsert(alice, { context: '', provider: 'pb', model: 'm1' });
    expect(moved).toMatchObject({ usageCount: 0, lastUsedAt: null, provider: 'pb' });

    // Uses counted while a worker still routed by its cached copy (pa/m1) are not uses of the new preference.
    await prefs.recordUses(
      [
        { userId: alice, context: '', preferred: 'pa/m1', count: 4, lastUsedAt: t2 },
        { userId: alice, context: '', preferred: 'pb/m1', count: 1, lastUsedAt: t1 },
      ],
      randomUUID(),
    );
    expect((await prefs.list(alice, ''))[0]).toMatchObject({ provider: 'pb', usageCount: 1, lastUsedAt: t1 });
  });

  it('adds a batch once, however often it is written; drops the ids of batches written a day ago', async () => {
    const frank = (await ds.getRepository(UserEntity).save({ name: 'frank' })).id;
    await prefs.upsert(frank, { context: '', provider: 'pa', model: 'm1' });
    const batch = randomUUID();
    const uses = [{ userId: frank, context: '', preferred: 'pa/m1', count: 3, lastUsedAt: new Date() }];
    expect(await prefs.recordUses(uses, batch)).toBe(true);
    // The same batch again, as a worker retries one whose reply was lost after PostgreSQL committed it.
    expect(await prefs.recordUses(uses, batch)).toBe(false);
    expect((await prefs.list(frank))[0].usageCount).toBe(3);

    const ledger = `"${schema}".preference_usage_batches`;
    await ds.query(`UPDATE ${ledger} SET written_at = now() - interval '25 hours' WHERE batch_id = $1`, [batch]);
    expect(await prefs.recordUses(uses, randomUUID())).toBe(true);
    const ids = (await ds.query<{ batch_id: string }[]>(`SELECT batch_id FROM ${ledger}`)).map((r) => r.batch_id);
    expect(ids).not.toContain(batch);
    expect((await prefs.list(frank))[0].usageCount).toBe(6);
  });

  it('counts a preference stored without a provider by its model reference', async () => {
    const carol = (await ds.getRepository(UserEntity).save({ name: 'carol' })).id;
    await ds.query(
      `INSERT INTO "${schema}".user_preferences (user_id, context, provider, model) VALUES ($1, '', NULL, 'pa/m1')`,
      [carol],
    );
    await prefs.recordUses(
      [
        { userId: carol, context: '', preferred: 'pa/m1', count: 2, lastUsedAt: new Date() },
        { userId: carol, context: '', preferred: 'm1', count: 5, lastUsedAt: new Date() },
      ],
      randomUUID(),
    );
    expect((await prefs.list(carol))[0]).toMatchObject({ provider: null, model: 'pa/m1', usageCount: 2 });
  });

  it('removes a preference, and says when there was none', async () => {
    expect(await prefs.remove(alice, 'coding')).toBe(true);
    expect(await prefs.remove(alice, 'coding')).toBe(false);
    expect((await prefs.list(alice)).map((p) => p.context)).toEqual(['']);
  });

  it('groups recent provider calls per deployment, leaving out cache hits and older rows', async () => {
    await usage.insertBatch([
      event(bob, { provider: 'pc', latencyMs: 200 }),
      event(bob, { provider: 'pc', latencyMs: 400 }),
      event(bob, { provider: 'pc', status: 'error', latencyMs: 9000, errorClass: 'provider' }),
      event(bob, { provider: 'pc', cached: true, latencyMs: 1 }),
      event(bob, { provider: 'pc', createdAt: new Date(Date.now() - 30 * HOUR).toISOString() }),
    ]);
    const stats = await new DeploymentStatsStore(ds).since(new Date(Date.now() - 24 * HOUR));
    expect(stats.find((s) => s.provider === 'pc')).toEqual({
      provider: 'pc',
      model: 'm1',
      requests: 3,
      successes: 2,
      avgLatencyMs: 300,
    });
  });

  it("reads a preference's 30 days of usage from the rollups, not every record of the 30 days", async () => {
    const dave = (await ds.getRepository(UserEntity).save({ name: 'dave' })).id;
    const contexts = ['', 'a', 'b', 'c', 'd', 'e'];
    for (const [i, context] of contexts.entries()) {
      await prefs.upsert(dave, { context, provider: `p${i}`, model: 'm1' });
    }
    // 60 requests a day for 25 days, between 2 and 27 days ago (never in the hours at the range's edges), on the
    // preferred deployments and others, and as many of another user's.
    const events: UsageEvent[] = [];
    for (let n = 0; n < 1500; n++) {
      const createdAt = new Date(Date.now() - 2 * 24 * HOUR - n * 24 * HOUR * (25 / 1500)).toISOString();
      const provider = `p${n % 8}`;
      const status = n % 7 === 0 ? 'error' : 'success';
      events.push(event(dave, { provider, createdAt, status, costUsd: 0.001 * (n % 5) }));
      events.push(event(bob, { provider, createdAt }));
    }
    await usage.insertBatch(events);
    const expected = contexts.map((context, i) => {
      const mine = events.filter((e) => e.userId === dave && e.provider === `p${i}`);
      return {
        context,
        requests: mine.filter((e) => e.status === 'success').length,
        costUsd: Math.round(mine.reduce((sum, e) => sum + e.costUsd, 0) * 1e9) / 1e9,
      };
    });
    await ds.query(`VACUUM ANALYZE "${schema}".usage_records`);

    const sent: { query: string; parameters: unknown[] }[] = [];
    const spy: EntitySubscriberInterface = {
      afterQuery: (e: AfterQueryEvent<unknown>) => {
        sent.push({ query: e.query, parameters: e.parameters ?? [] });
      },
    };
    ds.subscribers.push(spy);
    let listed: PreferenceRecord[];
    try {
      listed = await prefs.list(dave);
    } finally {
      ds.subscribers.splice(ds.subscribers.indexOf(spy), 1);
    }
    expect(listed.map((p) => ({ context: p.context, requests: p.requests, costUsd: p.costUsd }))).toEqual(expected);
    // What the statements read from usage_records, as PostgreSQL's plans count it: before, every record of the user
    // (or of everyone) in the 30 days, once per preference.
    let read = 0;
    for (const { query, parameters } of sent.filter((q) => /^\s*(SELECT|WITH)/i.test(q.query))) {
      const [{ 'QUERY PLAN': plan }] = await ds.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }[]>(
        `EXPLAIN (ANALYZE, FORMAT JSON) ${query}`,
        parameters,
      );
      read += rowsRead(plan[0].Plan, 'usage_records');
    }
    expect(read).toBeLessThan(100);
  });

  it('reads the monitor status of every provider', async () => {
    await ds.getRepository(ProviderEntity).insert([
      { id: 'pa', kind: 'openai', baseUrl: 'http://127.0.0.1:1', healthStatus: 'failing' },
      { id: 'pb', kind: 'openai', baseUrl: 'http://127.0.0.1:1' },
    ]);
    const health = await new DeploymentStatsStore(ds).providerHealth();
    expect([...health.entries()].sort()).toEqual([
      ['pa', 'failing'],
      ['pb', 'unknown'],
    ]);
  });
});
