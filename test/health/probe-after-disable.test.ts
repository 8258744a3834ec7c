import { HealthJobName, QueueName } from '@aigw/core';
import { bullOptions, RedisKeys } from '@aigw/platform';
import { freePort, waitFor } from '@aigw/testing';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { REDIS_URL, TestSystem } from '../e2e/harness';

const modelList = 'GET /v1/models';

/**
 * A probe (or model discovery) job queued before its subject was disabled runs after it: the monitor re-checks in
 * PostgreSQL that its provider is still enabled (a gateway: that an enabled provider still routes through it) and
 * calls nothing otherwise. Before, a provider was probed while the monitor's catalog had not reloaded yet (its
 * `provider.changed` on its way, or lost: then up to CATALOG_RELOAD_S), and a gateway whose last provider was disabled
 * was probed by a job already queued, its catalog reloaded or not. Real monitor process, Redis and PostgreSQL.
 */
describe('health monitor: a queued probe of a subject disabled since', () => {
  let system: TestSystem;
  let redis: Redis;
  let queue: Queue;

  beforeAll(async () => {
    const closed = await freePort();
    system = new TestSystem({
      workers: 0,
      simulators: 2,
      catalog: (s) => `gateways:
  - id: proxy
    baseUrl: ${s.sims[1].url}/v1
    apiKey: sk-proxy
    timeoutMs: 2000
providers:
  - id: direct-sim
    kind: openai
    baseUrl: ${s.sims[0].url}/v1
    apiKey: sk-direct
    timeoutMs: 2000
    models:
      - { name: sim-gpt, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192 }
  - id: zai
    kind: openai
    baseUrl: http://127.0.0.1:${closed}/v1
    routing: gateway
    gateway: proxy
    timeoutMs: 2000
    models:
      - { name: sim-gpt, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192 }
`,
      env: {
        HEALTH_PROBES_ENABLED: 'true',
        HEALTH_INTERVAL_S: '3600',
        HEALTH_DISCOVERY_INTERVAL_S: '3600',
        // The monitor's catalog follows an edit made behind the admin API's back only at a reload this far off.
        CATALOG_RELOAD_S: '3600',
      },
    });
    await system.start();
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    queue = new Queue(QueueName.Health, bullOptions(redis, new RedisKeys(system.prefix)));
  });

  afterAll(async () => {
    await queue?.close();
    redis?.disconnect();
    await system?.stop();
  });

  const calls = (sim: number) => system.sims[sim].stats().byRoute[modelList] ?? 0;

  /** Each schedule's first job runs at once: waits until those are done (no count moves for a second). */
  async function settled(): Promise<void> {
    let last = '';
    await waitFor(
      async () => {
        const now = `${calls(0)}/${calls(1)}`;
        const done = now === last && calls(0) >= 2 && calls(1) >= 2;
        last = now;
        return done && (await queue.getActiveCount()) + (await queue.getWaitingCount()) === 0;
      },
      { timeoutMs: 20_000, intervalMs: 1000 },
    );
  }

  async function run(name: HealthJobName, id: string): Promise<void> {
    const job = await queue.add(name, { id }, { jobId: `test-${name}-${id}-${Date.now()}` });
    await waitFor(async () => (await queue.getJobState(job.id as string)) === 'completed', { timeoutMs: 10_000 });
  }

  const schedulers = async (): Promise<string[]> => (await queue.getJobSchedulers(0, -1)).map((s) => s.key);

  it('does not probe or list the models of a provider its catalog in memory still has enabled', async () => {
    await settled();
    const before = calls(0);
    // Disabled in PostgreSQL, no provider.changed: the monitor's catalog still has it enabled.
    await system.query(`UPDATE providers SET enabled = false WHERE id = 'direct-sim'`);
    await run(HealthJobName.ProbeProvider, 'direct-sim');
    await run(HealthJobName.DiscoverModels, 'direct-sim');
    expect(calls(0)).toBe(before);
    // Finding it disabled reloaded the catalog, which dropped its schedules.
    await waitFor(async () => !(await schedulers()).includes('probe:provider:direct-sim'), { timeoutMs: 10_000 });
    expect(await schedulers()).not.toContain('discover:provider:direct-sim');
  });

  it('does not probe a gateway whose last provider was disabled through the admin API', async () => {
    await system.admin('POST', '/providers/zai/toggle', { enabled: false });
    await waitFor(async () => !(await schedulers()).includes('probe:gateway:proxy'), { timeoutMs: 10_000 });
    const before = calls(1);
    await run(HealthJobName.ProbeGateway, 'proxy');
    expect(calls(1)).toBe(before);
  });
});
