import { Redis } from 'ioredis';
import { waitFor } from '@aigw/testing';
import { REDIS_URL, TestSystem } from '../e2e/harness';

/**
 * An `auto` provider whose direct route failed was moved to its gateway in the workers' route memory (by a worker's
 * failed call, or by the monitor). Once the monitor's probes reach the direct route again, the memory goes: traffic
 * takes the direct route again within a probe interval, not when the memory expired a day later.
 */
describe('health monitor: an auto provider whose direct route works again', () => {
  let system: TestSystem;
  let redis: Redis;

  beforeAll(async () => {
    system = new TestSystem({
      workers: 0,
      simulators: 1,
      catalog: (s) => `gateways:
  - id: proxy
    baseUrl: ${s.sim.url}/v1
    apiKey: sk-proxy-secret
    timeoutMs: 2000
providers:
  - id: zai
    kind: openai
    baseUrl: ${s.sim.url}/v1
    apiKey: sk-zai-secret
    routing: auto
    gateway: proxy
    timeoutMs: 2000
    healthIntervalS: 1
    models:
      - { name: sim-gpt, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192 }
`,
      env: { HEALTH_PROBES_ENABLED: 'true', HEALTH_INTERVAL_S: '1', HEALTH_DISCOVERY_INTERVAL_S: '3600' },
    });
    await system.start();
    redis = new Redis(REDIS_URL);
  });

  afterAll(async () => {
    redis?.disconnect();
    await system?.stop();
  });

  it('forgets the remembered gateway once a probe reaches the direct route', async () => {
    const key = `${system.prefix}:routing:route:zai`;
    // What a worker remembers after a direct call found no connection (for a day).
    await redis.set(key, 'gateway', 'PX', 86_400_000);
    const probes = async () =>
      Number(
        (
          await system.query<{ n: string }>(
            `SELECT count(*) AS n FROM provider_health_checks WHERE provider_id = 'zai' AND route = 'direct' AND ok`,
          )
        )[0].n,
      );
    const before = await probes();
    await waitFor(async () => (await probes()) >= before + 2, { timeoutMs: 10_000 });
    expect(await redis.get(key)).toBeNull();
  });
});
