import { DAY_MS, floorTo, HOUR_MS, validateEnv } from '@aigw/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createHealthMonitor } from '../../../apps/health-monitor/src/bootstrap';
import { MonitorEnv } from '../../../apps/health-monitor/src/config/monitor-env';
import { HealthJobs } from '../../../apps/health-monitor/src/health/health-jobs';
import { DATABASE_URL, GatewayHarness, REDIS_URL } from '../support';
import { call, createUser, errorOf, recordUsage, usageEvent } from './admin-support';

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
    const env = validateEnv(MonitorEnv, {
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
    monitor = await createHealthMonitor(env);
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
