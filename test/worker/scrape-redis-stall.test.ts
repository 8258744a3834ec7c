import { waitAtMost } from '@aigw/platform';
import { TEST_REDIS_URL } from '@aigw/testing';
import { TcpProxy } from './tcp-proxy';
import { WorkerHarness } from './support';

/**
 * The worker reads two gauges from Redis when Prometheus scrapes (`aigw_queue_jobs`, `aigw_circuit_state`). A Redis
 * that does not answer (stalled, or a half-open network) must not hold the scrape: it waited for the socket timeout
 * and the retries after it (45 s and more), past Prometheus' scrape timeout (10 s by default), so the whole target was
 * down and every series of the worker missing, `aigw_redis_errors_total` included, for as long as Redis was silent.
 */
describe('router-worker /metrics while Redis does not answer', () => {
  const target = new URL(TEST_REDIS_URL);
  const relay = new TcpProxy(target.hostname, Number(target.port || 6379));
  let h: WorkerHarness;

  beforeAll(async () => {
    await relay.up();
    const viaRelay = new URL(TEST_REDIS_URL);
    viaRelay.port = String(relay.port);
    h = new WorkerHarness({ env: { REDIS_URL: viaRelay.toString() } });
    await h.start();
  });

  afterAll(async () => {
    // The silent connections are cut and Redis is reachable again for the worker's close.
    await relay.down();
    relay.resume();
    await relay.up();
    await h?.stop();
    await relay.down();
  });

  it('answers with every series, the Redis-read gauges at their last values', async () => {
    const before = await h.metrics();
    expect(before).toMatch(/^aigw_queue_jobs\{queue="generation",state="waiting"\} 0$/m);
    expect(before).toMatch(/^aigw_circuit_state\{deployment="sim-openai\/sim-gpt"\} 0$/m);

    relay.stall();
    // Well inside Prometheus' default scrape timeout (10 s).
    const during = await waitAtMost(h.metrics(), 8_000);

    expect(during).toBeDefined();
    expect(during).toMatch(/^aigw_queue_jobs\{queue="generation",state="waiting"\} 0$/m);
    expect(during).toMatch(/^aigw_circuit_state\{deployment="sim-openai\/sim-gpt"\} 0$/m);
    expect(during).toMatch(/^aigw_process_cpu_seconds_total \S+$/m);
  }, 30_000);
});
