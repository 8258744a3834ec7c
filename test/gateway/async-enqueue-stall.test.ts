import { METRICS_REGISTRY, MetricName } from '@aigw/platform';
import { waitFor } from '@aigw/testing';
import type { Registry } from 'prom-client';
import { gatewayBehind, landsAndIsRemoved, relayToTestRedis, stopBehind } from './named-stall-relay';
import { ApiKeyStore } from '@aigw/entities';
import { call } from './admin/admin-support';
import type { ErrorEnvelope, GatewayHarness } from './support';

/** The bound on the async add: REQUEST_TIMEOUT_MS, from the request's arrival. */
const TIMEOUT_MS = 2_000;

/**
 * `POST /api/v1/ai/jobs` while the queue connection (`:queue`) is silent (a half-open network, real Redis behind a
 * loopback relay). The async job's deadline is its retention, no bound for the HTTP request: before, the request
 * waited for the add until the network came back. Now it is answered 503 with Retry-After at REQUEST_TIMEOUT_MS, and
 * the job, when the add lands, is cancelled and removed as on the sync path (it is nobody's: its id was never given).
 */
describe('api-gateway: a stalled async job add', () => {
  const relay = relayToTestRedis();
  let h: GatewayHarness;
  let key = '';
  let userId = '';
  const spent = async (): Promise<number> =>
    (await call<{ dailySpendUsd?: number }>(h, 'GET', `/api/v1/ai/admin/quotas/${userId}`)).body.dailySpendUsd ?? 0;

  /**
   * The gateway's `aigw_requests_total` of requests answered 503 before any job ran for them. Read from its registry,
   * not scraped: a scrape reads the queue's depth on the connection the test silences.
   */
  const unavailableCount = async (): Promise<number> => {
    const family = await h.app.get<Registry>(METRICS_REGISTRY).getSingleMetric(MetricName.Requests)?.get();
    const labels = { provider: 'none', model: 'none', status: 'service_unavailable', cache: 'bypass' };
    return family?.values.find((v) => JSON.stringify(v.labels) === JSON.stringify(labels))?.value ?? 0;
  };

  beforeAll(async () => {
    h = await gatewayBehind(relay, { REQUEST_TIMEOUT_MS: String(TIMEOUT_MS) });
    const created = await h.app.get(ApiKeyStore).create({ userName: 'async-enqueue-stall', role: 'user' });
    ({ key, userId } = created);
    // A spend quota: admission reserves the request's worst case, to be given back when its job never runs.
    const put = await call(h, 'PUT', `/api/v1/ai/admin/quotas/${userId}`, { dailySpendLimitUsd: 5 });
    expect(put.status).toBe(200);
    // No job may be taken: what lands late must be removed by the gateway, not run by a worker.
    await h.queue.pause();
  }, 60_000);

  afterAll(() => stopBehind(relay, h), 60_000);

  it('answers 503 with Retry-After at REQUEST_TIMEOUT_MS, and removes the job once it lands', async () => {
    relay.silence(`${h.prefix}:queue`);
    const started = Date.now();
    // Bounded here: before, the request waited for the network (the test fails rather than hang).
    const res = await h.post(
      '/api/v1/ai/jobs',
      { prompt: `stalled async add ${Date.now()}` },
      h.headers(key),
      AbortSignal.timeout(TIMEOUT_MS + 6_000),
    );
    const took = Date.now() - started;
    const body = (await res.json()) as ErrorEnvelope;
    expect(res.status).toBe(503);
    expect(body.error.code).toBe('service_unavailable');
    expect(res.headers.get('retry-after')).not.toBeNull();
    expect(took).toBeLessThan(TIMEOUT_MS + 1_500);
    // Counted as the sync path counts a failed add: the 503 its client got (before, an async one was counted nowhere).
    expect(await unavailableCount()).toBe(1);
    const requestId = res.headers.get('x-request-id') ?? '';
    expect(await h.queue.getJob(requestId)).toBeUndefined();
    // Still reserved: the add may yet land (and a worker run the job).
    expect(await spent()).toBeGreaterThan(0);

    await landsAndIsRemoved(relay, h, requestId, 'the async job that landed after its request was answered');
    // Given back once: the day's spend is 0 again, not below.
    await waitFor(async () => (await spent()) === 0, {
      timeoutMs: 5_000,
      message: 'the removed async job kept its reservation',
    });
    // Removed once it landed: no worker counts it, and the gateway counted it once.
    expect(await unavailableCount()).toBe(1);
  }, 20_000);
});
