import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { HOUR_MS } from '@aigw/core';
import { LATENCY_BUCKETS, mergedMetrics } from './metrics';

function registries(): { gateway: Registry; worker: Registry } {
  const gateway = new Registry();
  const worker = new Registry();
  collectDefaultMetrics({ register: gateway, prefix: 'aigw_' });
  return { gateway, worker };
}

describe('mergedMetrics', () => {
  it("serves each app's own families as they are and the process metrics once", async () => {
    const { gateway, worker } = registries();
    new Counter({ name: 'aigw_http_requests_total', help: 'h', labelNames: ['route'], registers: [gateway] }).inc({
      route: '/v1/chat/completions',
    });
    const jobs = new Histogram({
      name: 'aigw_job_duration_seconds',
      help: 'j',
      buckets: [0.1, 1],
      registers: [worker],
    });
    jobs.observe(0.5);

    const text = await mergedMetrics([gateway, worker]);

    expect(text).toContain('aigw_http_requests_total{route="/v1/chat/completions"} 1');
    expect(text).toContain('aigw_job_duration_seconds_bucket{le="0.1"} 0');
    expect(text).toContain('aigw_job_duration_seconds_bucket{le="1"} 1');
    expect(text).toContain('aigw_job_duration_seconds_count 1');
    // prom-client's own aggregator for it is `omit` (meant for several processes): kept here.
    expect(text.match(/^aigw_process_start_time_seconds /gm)).toHaveLength(1);
    const types = text.split('\n').filter((l) => l.startsWith('# TYPE '));
    expect(new Set(types).size).toBe(types.length);
  });

  it('sums a family several apps register, per label set, under one HELP and TYPE', async () => {
    const { gateway, worker } = registries();
    const counter = (r: Registry): Counter<'op'> =>
      new Counter({ name: 'aigw_redis_errors_total', help: 'errors', labelNames: ['op'], registers: [r] });
    counter(gateway).inc({ op: 'connection' }, 2);
    const workerErrors = counter(worker);
    workerErrors.inc({ op: 'connection' }, 3);
    workerErrors.inc({ op: 'usage_enqueue' });

    const text = await mergedMetrics([gateway, worker]);

    expect(text.match(/^# TYPE aigw_redis_errors_total counter$/gm)).toHaveLength(1);
    expect(text).toContain('aigw_redis_errors_total{op="connection"} 5');
    expect(text).toContain('aigw_redis_errors_total{op="usage_enqueue"} 1');
  });

  it('takes the max of a family that asks for it (a gauge every app reads from the same Redis)', async () => {
    const { gateway, worker } = registries();
    const depth = (r: Registry, n: number): void =>
      new Gauge({
        name: 'aigw_queue_jobs',
        help: 'jobs',
        labelNames: ['state'],
        registers: [r],
        aggregator: 'max',
      }).set({ state: 'waiting' }, n);
    depth(gateway, 7);
    depth(worker, 7);

    const text = await mergedMetrics([gateway, worker]);

    expect(text).toContain('aigw_queue_jobs{state="waiting"} 7');
  });
});

describe('LATENCY_BUCKETS', () => {
  // REQUEST_TIMEOUT_MS may be up to an hour (a streamed answer lasts until its end), a provider's timeoutMs is an idle
  // timeout for streams, and async jobs run longer still: a 4-minute generation and a 20-minute one must not share
  // +Inf, or every quantile past the top bucket reads as that bucket.
  it('tells apart generations up to the longest sync deadline, no bucket more than 3 times the one before', async () => {
    const r = new Registry();
    const h = new Histogram({ name: 'aigw_t_seconds', help: 'h', buckets: LATENCY_BUCKETS, registers: [r] });
    for (const seconds of [240, 1200, HOUR_MS / 1000]) {
      h.observe(seconds);
    }
    const counts = (await h.get()).values
      .filter((v) => v.metricName === 'aigw_t_seconds_bucket')
      .map((v) => [String(v.labels.le), v.value] as const);
    const finite = counts.filter(([le]) => le !== '+Inf').map(([, n]) => n);
    // Every observation is in a finite bucket, and the three in different ones.
    expect(finite[finite.length - 1]).toBe(3);
    expect(new Set(finite).size).toBeGreaterThanOrEqual(4);
    for (let i = 1; i < LATENCY_BUCKETS.length; i++) {
      expect(LATENCY_BUCKETS[i] / LATENCY_BUCKETS[i - 1]).toBeLessThanOrEqual(3);
    }
  });
});
