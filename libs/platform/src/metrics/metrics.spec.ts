import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { mergedMetrics } from './metrics';

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
