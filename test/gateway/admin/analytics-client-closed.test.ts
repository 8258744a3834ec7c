import { randomUUID } from 'node:crypto';
import { CLIENT_CLOSED_REQUEST, DAY_MS, HOUR_MS, type UsageEvent } from '@aigw/core';
import { runMigrationsLocked, UsageAnalyticsStore, UsageStore } from '@aigw/entities';
import type { DataSource } from 'typeorm';
import { AnalyticsService } from '../../../apps/api-gateway/src/analytics/analytics.service';
import { dropSchema, openDataSource, uniqueSchema } from '../../entities/pg';
import { usageEvent } from './admin-support';

const USER = randomUUID();
const NOW = Date.UTC(2026, 10, 8, 12, 30, 0);

/**
 * A request its client left (the user pressed stop, the connection dropped: `client_closed_request`) is no success,
 * and no failure either: nothing failed, the provider was answering. Counted as failures, every cancelled stream
 * dragged the analytics' failures and success rates down (a provider whose users stop half their answers looked half
 * broken), where the deployment stats, the circuits and the rollups' provider calls already leave them out. They are
 * counted apart (`clientClosed`), from the raw records and from the rollups alike.
 */
describe('analytics: requests their client left', () => {
  const schema = uniqueSchema('analytics_client_closed');
  let ds: DataSource;
  let service: AnalyticsService;

  const ev = (at: number, over: Partial<UsageEvent>): UsageEvent =>
    usageEvent(USER, { provider: 'sim-openai', model: 'gpt-x', createdAt: new Date(at).toISOString(), ...over });
  const left: Partial<UsageEvent> = {
    status: 'error',
    errorClass: 'cancelled',
    errorCode: CLIENT_CLOSED_REQUEST,
  };
  const failed: Partial<UsageEvent> = { status: 'error', errorClass: 'server', errorCode: 'provider_error' };

  beforeAll(async () => {
    ds = await openDataSource(schema);
    await runMigrationsLocked(ds);
    // Three days back (daily rollups), an hour back (hourly), this hour (raw records): each has a success, a failure
    // and a request its client left, and two successes more in the oldest.
    const times = [NOW - 3 * DAY_MS, NOW - 1 * HOUR_MS, NOW - 10 * 60_000];
    await new UsageStore(ds).insertBatch(
      times.flatMap((t, i) => [
        ev(t, {}),
        ev(t + 1, failed),
        ev(t + 2, left),
        ...(i === 0 ? [ev(t + 3, {}), ev(t + 4, {})] : []),
      ]),
    );
    service = new AnalyticsService(new UsageAnalyticsStore(ds), () => new Date(NOW));
  });

  afterAll(async () => {
    await ds.destroy();
    await dropSchema(schema);
  });

  const range = { from: new Date(NOW - 5 * DAY_MS).toISOString(), to: new Date(NOW).toISOString() };

  it('admin usage: neither successes nor failures, counted apart', async () => {
    const view = await service.usage({ ...range, groupBy: 'provider' });
    expect(view.totals).toMatchObject({ requests: 11, successes: 5, failures: 3, clientClosed: 3 });
    expect(view.groups).toEqual([
      expect.objectContaining({ key: 'sim-openai', requests: 11, successes: 5, failures: 3, clientClosed: 3 }),
    ]);
    const byDay = await service.usage({ ...range, groupBy: 'day' });
    expect(byDay.groups.map((g) => [g.key, g.requests, g.failures, g.clientClosed])).toEqual([
      ['2026-11-05', 5, 1, 1],
      ['2026-11-08', 6, 2, 2],
    ]);
  });

  it('metrics: the success rate is of the requests that ended, failures and series without them', async () => {
    const m = await service.metrics(range);
    expect(m).toMatchObject({ requests: 11, successes: 5, failures: 3, clientClosed: 3, successRate: 0.625 });
    expect(m.providers).toEqual([
      expect.objectContaining({ provider: 'sim-openai', failures: 3, clientClosed: 3, successRate: 0.625 }),
    ]);
    expect(m.series.points.reduce((n, p) => n + p.failures, 0)).toBe(3);
  });
});
