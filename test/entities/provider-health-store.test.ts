import { parseCatalog } from '@aigw/core';
import {
  CatalogStore,
  DeploymentStatsStore,
  ProviderHealthStore,
  runMigrationsLocked,
  SecretBox,
  type HealthRules,
  type RouteCheck,
} from '@aigw/entities';
import type { AfterQueryEvent, DataSource, EntitySubscriberInterface } from 'typeorm';
import { dropSchema, openDataSource, uniqueSchema } from './pg';

const YAML = `
gateways:
  - { id: litellm, baseUrl: http://127.0.0.1:1/v1 }
providers:
  - id: p1
    kind: openai
    baseUrl: http://127.0.0.1:1/v1
    healthIntervalS: 30
    models:
      - { name: m1, promptPer1k: 0, completionPer1k: 0, contextWindow: 1000 }
  - id: p2
    kind: openai
    baseUrl: http://127.0.0.1:1/v1
    routing: auto
    gateway: litellm
    models:
      - { name: m2, promptPer1k: 0, completionPer1k: 0, contextWindow: 1000 }
`;

const RULES: HealthRules = { failureThreshold: 3, slowMs: 1000, window: 5 };
const up = (latencyMs = 10, route: RouteCheck['route'] = 'direct'): RouteCheck => ({
  route,
  ok: true,
  latencyMs,
  status: 200,
  errorClass: null,
  message: null,
});
const down = (route: RouteCheck['route'] = 'direct'): RouteCheck => ({
  route,
  ok: false,
  latencyMs: 3,
  status: null,
  errorClass: 'network',
  message: 'connection refused',
});

describe('ProviderHealthStore (real PostgreSQL)', () => {
  const schema = uniqueSchema('health');
  let ds: DataSource;
  let store: ProviderHealthStore;
  let clock = Date.parse('2026-01-01T00:00:00Z');
  const tick = (ms = 1000): Date => new Date((clock += ms));

  beforeAll(async () => {
    ds = await openDataSource(schema);
    await runMigrationsLocked(ds, () => undefined);
    const { box } = SecretBox.fromEnv(undefined, 'test');
    await new CatalogStore(ds, box).seed(parseCatalog(YAML, {}));
    store = new ProviderHealthStore(ds);
  });

  afterAll(async () => {
    await ds.destroy();
    await dropSchema(schema);
  });

  it('moves a provider unknown → healthy → degraded → failing → degraded → healthy, one transition at a time', async () => {
    const p1 = { kind: 'provider' as const, id: 'p1' };
    const seen: string[] = [];
    const probe = async (checks: RouteCheck[]) => {
      const r = await store.recordProbe(p1, checks, tick(), RULES);
      seen.push(`${r?.previous}>${r?.status}:${r?.consecutiveFailures}`);
      return r;
    };
    await probe([up()]);
    await probe([down()]);
    await probe([down()]);
    const failing = await probe([down()]);
    expect(failing?.lastError).toBe('direct: connection refused');
    await probe([down()]);
    await probe([up()]);
    // The window of 5 probes still holds failures: working, but degraded until they age out.
    for (let i = 0; i < 4; i++) {
      await probe([up()]);
    }
    await probe([up(5000)]);
    expect(seen).toEqual([
      'unknown>healthy:0',
      'healthy>degraded:1',
      'degraded>degraded:2',
      'degraded>failing:3',
      'failing>failing:4',
      'failing>degraded:0',
      'degraded>degraded:0',
      'degraded>degraded:0',
      'degraded>degraded:0',
      'degraded>healthy:0',
      'healthy>degraded:0',
    ]);
    const health = (await store.providerHealth()).get('p1');
    expect(health).toMatchObject({ status: 'degraded', consecutiveFailures: 0, lastError: null });
    expect(health?.lastCheckAt?.getTime()).toBe(clock);
  });

  it('an auto provider whose gateway route works is up, and its last error names the route that failed', async () => {
    const p2 = { kind: 'provider' as const, id: 'p2' };
    const r = await store.recordProbe(p2, [down('direct'), up(20, 'gateway')], tick(), RULES);
    expect(r).toMatchObject({ previous: 'unknown', status: 'healthy', consecutiveFailures: 0 });
    expect(r?.lastError).toBe('direct: connection refused');
  });

  it('records a gateway on its own, and nothing for a subject that does not exist', async () => {
    const r = await store.recordProbe({ kind: 'gateway', id: 'litellm' }, [up(5, 'health')], tick(), RULES);
    expect(r).toMatchObject({ previous: 'unknown', status: 'healthy' });
    expect(await store.recordProbe({ kind: 'provider', id: 'nope' }, [up()], tick(), RULES)).toBeNull();
    const [row] = await ds.query<{ n: string }[]>(
      `SELECT count(*) AS n FROM "${schema}".provider_health_checks WHERE gateway_id = 'litellm' AND route = 'health'`,
    );
    expect(Number(row.n)).toBe(1);
  });

  it('keeps a failing subject failing until recoveryThreshold working probes in a row, unless its status ran out', async () => {
    const g = { kind: 'gateway' as const, id: 'litellm' };
    const rules: HealthRules = { ...RULES, failureThreshold: 1, recoveryThreshold: 2 };
    const seen: string[] = [];
    const probe = async (ok: boolean, holdsMs: number | null = null) => {
      const at = tick();
      const r = await store.recordProbe(
        g,
        [ok ? up(5, 'health') : down('health')],
        at,
        rules,
        holdsMs === null ? null : new Date(at.getTime() + holdsMs),
      );
      seen.push(`${r?.previous}>${r?.status}`);
    };
    for (const ok of [false, true, false, true, true]) {
      await probe(ok);
    }
    expect(seen).toEqual([
      'healthy>failing',
      'failing>failing',
      'failing>failing',
      'failing>failing',
      'failing>degraded',
    ]);
    // Failing, but no probe confirmed it within its validity (readers took it as unknown): the next working probe
    // ends it, as it would an unknown status, rather than turning it back to failing.
    seen.length = 0;
    await probe(false, 500);
    await probe(true);
    expect(seen).toEqual(['degraded>failing', 'failing>degraded']);
  });

  it('concurrent probes of one provider see the transition to failing exactly once', async () => {
    const p = { kind: 'provider' as const, id: 'p2' };
    await store.recordProbe(p, [up()], tick(), RULES);
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) => store.recordProbe(p, [down()], new Date(clock + 1 + i), RULES)),
    );
    clock += 10;
    const transitions = results.filter((r) => r?.previous !== 'failing' && r?.status === 'failing');
    expect(transitions).toHaveLength(1);
    expect(Math.max(...results.map((r) => r?.consecutiveFailures ?? 0))).toBe(6);
  });

  it('a probe that began before the one recorded last never undoes it: kept in the history, status left alone', async () => {
    const p1 = { kind: 'provider' as const, id: 'p1' };
    const history = async (): Promise<number> =>
      Number(
        (
          await ds.query<{ n: string }[]>(
            `SELECT count(*) AS n FROM "${schema}".provider_health_checks WHERE provider_id = 'p1'`,
          )
        )[0].n,
      );
    // Settle on healthy with a clean window.
    for (let i = 0; i < RULES.window; i++) {
      await store.recordProbe(p1, [up()], tick(), RULES);
    }
    const rows = await history();
    // A probe of the old settings began first and timed out after the probe of the fixed ones was recorded.
    const oldBegan = tick();
    const newBegan = tick();
    await store.recordProbe(p1, [up()], newBegan, RULES);
    const late = await store.recordProbe(p1, [down()], oldBegan, RULES);
    expect(late).toMatchObject({ previous: 'healthy', status: 'healthy', consecutiveFailures: 0, lastError: null });
    const health = (await store.providerHealth()).get('p1');
    expect(health).toMatchObject({ status: 'healthy', consecutiveFailures: 0, lastError: null });
    expect(health?.lastCheckAt?.getTime()).toBe(newBegan.getTime());
    expect(await history()).toBe(rows + 2);

    // Failing now: a late working probe that began earlier does not break the streak...
    const failedAt = [tick(), tick()];
    const earlier = new Date(failedAt[0].getTime() - 500);
    await store.recordProbe(p1, [down()], failedAt[0], RULES);
    expect(await store.recordProbe(p1, [up()], earlier, RULES)).toMatchObject({
      status: 'degraded',
      consecutiveFailures: 1,
    });
    // ...while a late failed one adds to it.
    await store.recordProbe(p1, [down()], failedAt[1], RULES);
    expect(await store.recordProbe(p1, [down()], earlier, RULES)).toMatchObject({
      previous: 'degraded',
      status: 'failing',
      consecutiveFailures: 3,
    });
    expect((await store.providerHealth()).get('p1')?.lastCheckAt?.getTime()).toBe(failedAt[1].getTime());
  });

  it('answers history newest first within the range, uptime over every probe of it, and prunes by age', async () => {
    const p1 = 'p1';
    const from = new Date(clock + 1);
    await store.recordProbe({ kind: 'provider', id: p1 }, [up(7)], tick(), RULES);
    await store.recordProbe({ kind: 'provider', id: p1 }, [down()], tick(), RULES);
    await store.recordProbe({ kind: 'provider', id: p1 }, [up(9)], tick(), RULES);
    await store.recordProbe({ kind: 'provider', id: p1 }, [up(8)], tick(), RULES);
    const to = new Date(clock + 1);
    const rows = await store.history(p1, from, to, 3);
    expect(rows.map((r) => [r.ok, r.latencyMs])).toEqual([
      [true, 8],
      [true, 9],
      [false, 3],
    ]);
    expect(rows[2]).toMatchObject({
      route: 'direct',
      status: null,
      errorClass: 'network',
      message: 'connection refused',
    });
    expect(await store.uptime(p1, from, to)).toEqual({ probes: 4, up: 3, uptime: 0.75 });
    expect((await store.uptime(p1, to, new Date(clock + 5000))).uptime).toBeNull();

    const total = async () =>
      Number((await ds.query<{ n: string }[]>(`SELECT count(*) AS n FROM "${schema}".provider_health_checks`))[0].n);
    const before = await total();
    const old = Number(
      (
        await ds.query<{ n: string }[]>(
          `SELECT count(*) AS n FROM "${schema}".provider_health_checks WHERE checked_at < $1`,
          [from],
        )
      )[0].n,
    );
    expect(old).toBeGreaterThan(2);
    // A backlog goes in bounded statements (here 2 rows each), every one of them, so none meets the query limit.
    const deletes: number[] = [];
    const spy: EntitySubscriberInterface = {
      afterQuery: (e: AfterQueryEvent<unknown>) => {
        if (/^\s*DELETE/.test(e.query)) {
          deletes.push((e.rawResults as { rowCount: number }).rowCount);
        }
      },
    };
    ds.subscribers.push(spy);
    let removed: number;
    try {
      removed = await store.prune(from, 2);
    } finally {
      ds.subscribers.splice(ds.subscribers.indexOf(spy), 1);
    }
    expect(removed).toBe(old);
    expect(Math.max(...deletes)).toBeLessThanOrEqual(2);
    expect(await total()).toBe(before - removed);
    expect((await store.history(p1, new Date(0), to, 100)).length).toBe(4);
  });

  it('keeps what a provider lists: served now, first seen, and what it stopped listing', async () => {
    expect(await store.discovered('p1')).toEqual({ refreshedAt: null, models: [] });
    const t1 = tick();
    await store.recordModels(
      'p1',
      [
        { model: 'm1', capabilities: ['chat'] },
        { model: 'extra', capabilities: ['chat', 'tools'] },
      ],
      t1,
    );
    const t2 = tick();
    await store.recordModels('p1', [{ model: 'extra', capabilities: ['chat'] }], t2);
    const found = await store.discovered('p1');
    expect(found.refreshedAt?.getTime()).toBe(t2.getTime());
    expect(found.models).toEqual([{ model: 'extra', capabilities: ['chat'], firstSeenAt: t1, lastSeenAt: t2 }]);
  });

  it('a status no probe confirmed past its validity reads unknown everywhere routing and listings look, not to the monitor', async () => {
    const p2 = { kind: 'provider', id: 'p2' } as const;
    const gw = { kind: 'gateway', id: 'litellm' } as const;
    const catalogStore = new CatalogStore(ds, SecretBox.fromEnv(undefined, 'test').box);
    const stats = new DeploymentStatsStore(ds);
    const readers = async (): Promise<unknown[]> => [
      (await store.providerHealth()).get('p2')?.status,
      (await catalogStore.loadWithHealth()).health.get('p2'),
      (await stats.providerHealth()).get('p2'),
    ];
    const later = new Date(Date.now() + 60_000);
    for (let i = 0; i < RULES.failureThreshold; i++) {
      await store.recordProbe(p2, [down(), down('gateway')], tick(), RULES, later);
    }
    await store.recordProbe(gw, [down('health')], tick(), RULES, later);
    expect(await readers()).toEqual(['failing', 'failing', 'failing']);
    expect((await store.gatewayStatuses()).get('litellm')).toBe('degraded');

    // The monitor stopped: the last probe's status has lapsed.
    const past = new Date(Date.now() - 1);
    const lapsed = await store.recordProbe(p2, [down(), down('gateway')], tick(), RULES, past);
    await store.recordProbe(gw, [down('health')], tick(), RULES, past);
    expect(lapsed).toMatchObject({ previous: 'failing', status: 'failing' });
    expect(await readers()).toEqual(['unknown', 'unknown', 'unknown']);
    expect((await store.gatewayStatuses()).get('litellm')).toBe('unknown');

    // A monitor back: its next probe moves on from what was recorded, not from unknown.
    const back = await store.recordProbe(p2, [up(), up(20, 'gateway')], tick(), RULES, later);
    expect(back).toMatchObject({ previous: 'failing', status: 'degraded' });
    expect(await readers()).toEqual(['degraded', 'degraded', 'degraded']);
  });
});
