import { DAY_MS, floorTo, HOUR_MS, validateEnv } from '@aigw/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { createHealthMonitor } from '../../../apps/health-monitor/src/bootstrap';
import { MonitorEnv } from '../../../apps/health-monitor/src/config/monitor-env';
import { HealthJobs } from '../../../apps/health-monitor/src/health/health-jobs';
import { DATABASE_URL, GatewayHarness, REDIS_URL } from '../support';
import { call, createUser, errorOf, recordUsage, usageEvent } from './admin-support';

/** A monitor pruning usage records past 31 days and hourly rollups past 35, on the harness's database and Redis. */
function monitorEnv(h: GatewayHarness): MonitorEnv {
  return validateEnv(MonitorEnv, {
    NODE_ENV: 'test',
    DATABASE_URL,
    DATABASE_SCHEMA: h.schema,
    REDIS_URL,
    REDIS_PREFIX: h.prefix,
    PROVIDERS_FILE: h.env.PROVIDERS_FILE,
    LOG_LEVEL: 'error',
    PORT: '0',
    HEALTH_PROBES_ENABLED: 'false',
    USAGE_RETENTION_DAYS: '31',
    USAGE_HOURLY_RETENTION_DAYS: '35',
  });
}

interface UsageBody {
  from: string;
  to: string;
  totals: { requests: number };
}

/**
 * The api-gateway and the health-monitor configured differently: the monitor prunes with its
 * USAGE_*RETENTION_DAYS, the gateway keeps the defaults (0: for good). The gateway's analytics must read the edge the
 * monitor actually pruned to, not assume from their own environment that nothing is gone.
 */
describe('usage retention across apps (gateway and monitor configured differently)', () => {
  const h = new GatewayHarness();
  let monitor: NestFastifyApplication | undefined;
  const now = Date.now();
  // A UTC day 33 days back (raw records gone past 31 days, hours kept for 35) and one 40 days back (hours gone too).
  const recent = floorTo(now - 33 * DAY_MS, DAY_MS) + 10 * HOUR_MS;
  const old = floorTo(now - 40 * DAY_MS, DAY_MS) + 10 * HOUR_MS;
  const iso = (t: number): string => new Date(t).toISOString();

  beforeAll(async () => {
    await h.start();
    const user = (await createUser(h, 'r-carol')).id;
    const at = (t: number) => usageEvent(user, { createdAt: iso(t) });
    await recordUsage(h, [
      at(recent + 10 * 60_000),
      at(recent + 40 * 60_000),
      at(recent + 2 * HOUR_MS + 20 * 60_000),
      at(old + 40 * 60_000),
      at(old + 5 * HOUR_MS),
    ]);
    monitor = await createHealthMonitor(monitorEnv(h));
    // The monitor's daily prune-usage job, run now.
    await monitor.get(HealthJobs).pruneUsage();
  });

  afterAll(async () => {
    await monitor?.close();
    await h.stop();
  }, 30_000);

  const usage = (query: string) => call<UsageBody>(h, 'GET', `/api/v1/ai/admin/usage?${query}`);

  it('widens an edge past the raw records the monitor pruned to its hour, so nothing pruned goes missing', async () => {
    const res = await usage(`from=${iso(recent + 30 * 60_000)}&to=${iso(recent + 3 * HOUR_MS)}&groupBy=provider`);
    expect(res.status).toBe(200);
    // [10:00, 13:00): all three requests, from the hourly rollups; the answer says the range it covers.
    expect(res.body.totals.requests).toBe(3);
    expect(res.body).toMatchObject({ from: iso(recent), to: iso(recent + 3 * HOUR_MS) });
  });

  it('answers by day where the monitor pruned the hours, and refuses hourly groups there', async () => {
    const res = await usage(`from=${iso(old + 30 * 60_000)}&to=${iso(old + 6 * HOUR_MS)}&groupBy=provider`);
    expect(res.status).toBe(200);
    expect(res.body.totals.requests).toBe(2);
    expect(res.body).toMatchObject({ from: iso(old - 10 * HOUR_MS), to: iso(old + 14 * HOUR_MS) });
    const hourly = await usage(`from=${iso(old)}&to=${iso(old + 6 * HOUR_MS)}&groupBy=hour`);
    expect(hourly.status).toBe(400);
    expect(errorOf(hourly).param).toBe('from');
  });
});

/** The other way round: the gateway configured to prune, the monitor keeping everything (nothing was pruned). */
describe('usage retention across apps (the gateway alone given a retention)', () => {
  const h = new GatewayHarness({ USAGE_RETENTION_DAYS: '31', USAGE_HOURLY_RETENTION_DAYS: '35' });
  const old = floorTo(Date.now() - 40 * DAY_MS, DAY_MS) + 10 * HOUR_MS;
  const iso = (t: number): string => new Date(t).toISOString();

  beforeAll(async () => {
    await h.start();
    const user = (await createUser(h, 'r-dave')).id;
    await recordUsage(h, [usageEvent(user, { createdAt: iso(old + 40 * 60_000) })]);
  });

  afterAll(() => h.stop(), 30_000);

  it('answers hourly groups and exact edges where nothing was pruned', async () => {
    const query = `from=${iso(old + 30 * 60_000)}&to=${iso(old + 6 * HOUR_MS)}&groupBy=hour`;
    const res = await call<UsageBody>(h, 'GET', `/api/v1/ai/admin/usage?${query}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ from: iso(old + 30 * 60_000), to: iso(old + 6 * HOUR_MS) });
    expect(res.body.totals.requests).toBe(1);
  });
});

/**
 * A rolling upgrade: the schema migrated (no edge: nothing was pruned yet), then a monitor of the previous release
 * prunes, recording nothing. A monitor of this release records the edges of its retention as it starts, deleting
 * nothing, so the gateway stops reading the pruned rows at once rather than after this release's next daily prune.
 */
describe('usage retention across apps (a monitor of the previous release pruned)', () => {
  const h = new GatewayHarness();
  let monitor: NestFastifyApplication | undefined;
  const recent = floorTo(Date.now() - 33 * DAY_MS, DAY_MS) + 10 * HOUR_MS;
  const iso = (t: number): string => new Date(t).toISOString();

  beforeAll(async () => {
    await h.start();
    const user = (await createUser(h, 'r-erin')).id;
    const at = (t: number) => usageEvent(user, { createdAt: iso(t) });
    await recordUsage(h, [at(recent + 10 * 60_000), at(recent + 40 * 60_000), at(recent + 2 * HOUR_MS + 20 * 60_000)]);
    // The previous release's prune: the records past 31 days go, no edge is recorded.
    const ds = h.app.get(DataSource);
    await ds.query(`DELETE FROM usage_records WHERE created_at < $1`, [new Date(Date.now() - 31 * DAY_MS)]);
    expect(await ds.query(`SELECT * FROM usage_retention_edges`)).toEqual([]);
  });

  afterAll(async () => {
    await monitor?.close();
    await h.stop();
  }, 30_000);

  it('a monitor of this release records its edges as it starts, before any prune', async () => {
    const before = Date.now();
    monitor = await createHealthMonitor(monitorEnv(h));
    const edges = await h.app
      .get(DataSource)
      .query<{ level: string; before: Date }[]>(`SELECT level, before FROM usage_retention_edges ORDER BY level`);
    expect(edges.map((e) => e.level)).toEqual(['hourly', 'raw']);
    const raw = edges.find((e) => e.level === 'raw')!.before.getTime();
    expect(raw).toBeGreaterThanOrEqual(before - 31 * DAY_MS);
    expect(raw).toBeLessThanOrEqual(Date.now() - 31 * DAY_MS);
    // Nothing deleted: the hourly rollups of the pruned records still answer.
    const res = await call<UsageBody>(
      h,
      'GET',
      `/api/v1/ai/admin/usage?from=${iso(recent + 30 * 60_000)}&to=${iso(recent + 3 * HOUR_MS)}&groupBy=provider`,
    );
    expect(res.status).toBe(200);
    expect(res.body.totals.requests).toBe(3);
    expect(res.body).toMatchObject({ from: iso(recent), to: iso(recent + 3 * HOUR_MS) });
  });
});

/**
 * A monitor records at start only what is actually gone: the earlier of its cutoff and the oldest row still present.
 * Claiming its whole cutoff moved the shared edges for good (they only move forward) past rows nobody pruned: a
 * replica that has not pruned yet, or one briefly started with a shorter retention than the one that prunes.
 */
describe('usage retention across apps (a monitor starts where nothing was pruned)', () => {
  const h = new GatewayHarness();
  let monitor: NestFastifyApplication | undefined;
  const old = floorTo(Date.now() - 33 * DAY_MS, DAY_MS) + 10 * HOUR_MS;
  const iso = (t: number): string => new Date(t).toISOString();

  beforeAll(async () => {
    await h.start();
    const user = (await createUser(h, 'r-frank')).id;
    const at = (t: number) => usageEvent(user, { createdAt: iso(t) });
    await recordUsage(h, [at(old + 10 * 60_000), at(old + 40 * 60_000), at(old + 2 * HOUR_MS + 20 * 60_000)]);
  });

  afterAll(async () => {
    await monitor?.close();
    await h.stop();
  }, 30_000);

  it('claims no edge past the oldest rows still present, and the gateway still reads them by the hour', async () => {
    // A retention of 31 days for the records and the hourly rollups: rows 33 days old are past both, not yet pruned.
    monitor = await createHealthMonitor({ ...monitorEnv(h), USAGE_HOURLY_RETENTION_DAYS: 31 });
    const edges = await h.app
      .get(DataSource)
      .query<{ level: string; before: Date }[]>(`SELECT level, before FROM usage_retention_edges ORDER BY level`);
    // Before: both at the cutoff, now - 31 days.
    expect(edges.map((e) => [e.level, e.before.toISOString()])).toEqual([
      ['hourly', iso(old)],
      ['raw', iso(old + 10 * 60_000)],
    ]);
    // Before: 400 (hourly rows read as gone).
    const res = await call<UsageBody>(
      h,
      'GET',
      `/api/v1/ai/admin/usage?from=${iso(old)}&to=${iso(old + 3 * HOUR_MS)}&groupBy=hour`,
    );
    expect(res.status).toBe(200);
    expect(res.body.totals.requests).toBe(3);
  });
});
