import { Client } from 'pg';
import { PrivateRedis, waitFor } from '@aigw/testing';
import { DATABASE_URL, TestSystem } from '../e2e/harness';

interface Readiness {
  status: number;
  body: { error?: Record<string, { status: string; message?: string }> };
}

/**
 * The monitor's `/health/ready` says whether it can run its probes, not only whether Redis and PostgreSQL answer:
 * its probe workers take jobs, their Redis connections are ready, and their slots are not all stuck. A real monitor
 * process on a Redis of its own (stopped and started here), with one probe slot (HEALTH_CONCURRENCY=1) and probes that
 * time out after 1 s, so a slot held 13 s (3 timeouts and a 10 s margin) with no job ending is a stall.
 */
describe('health monitor: readiness follows its probe workers', () => {
  let system: TestSystem;
  let redis: PrivateRedis;

  beforeAll(async () => {
    redis = await new PrivateRedis().start();
    system = new TestSystem({
      workers: 0,
      catalog: (s) => `providers:
  - id: sim
    kind: openai
    baseUrl: ${s.sim.url}/v1
    timeoutMs: 1000
    healthIntervalS: 1
    models:
      - { name: sim-gpt, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192 }
`,
      env: {
        REDIS_URL: redis.url,
        HEALTH_PROBES_ENABLED: 'true',
        HEALTH_CONCURRENCY: '1',
        PROBE_TIMEOUT_MS: '1000',
        HEALTH_DISCOVERY_INTERVAL_S: '3600',
      },
    });
    await system.start();
  });

  afterAll(async () => {
    await system?.stop();
    await redis?.stop();
  });

  async function readiness(): Promise<Readiness> {
    const [monitor] = system.monitors();
    const res = await fetch(`http://127.0.0.1:${monitor.port}/health/ready`);
    return { status: res.status, body: (await res.json()) as Readiness['body'] };
  }

  const probes = () => system.sim.stats().byRoute['GET /v1/models'] ?? 0;

  it('is not ready while every probe slot waits on a lock no job gets past, and ready once they move again', async () => {
    await waitFor(async () => probes() >= 2 && (await readiness()).status === 200, { timeoutMs: 10_000 });
    // A transaction holding the provider's row: each probe's record waits for it, and so the one slot does.
    const pg = new Client({ connectionString: DATABASE_URL });
    await pg.connect();
    try {
      await pg.query(`SET search_path TO "${system.schema}"`);
      await pg.query('BEGIN');
      await pg.query(`SELECT 1 FROM providers WHERE id = 'sim' FOR UPDATE`);
      const stalled = await waitFor(
        async () => {
          const r = await readiness();
          return r.status === 503 ? r : null;
        },
        { timeoutMs: 30_000, intervalMs: 500 },
      );
      expect(stalled.body.error?.['health-probes']).toEqual({
        status: 'down',
        message: expect.stringMatching(/^health-worker: stalled, all 1 slots held for \d+ s without a job ending$/),
      });
      // Redis and PostgreSQL answer all along: only the probes are stuck.
      expect(Object.keys(stalled.body.error ?? {})).toEqual(['health-probes']);
      await pg.query('ROLLBACK');
    } finally {
      await pg.end();
    }
    await waitFor(async () => (await readiness()).status === 200, { timeoutMs: 10_000 });
  });

  it('is not ready while its Redis is away, and ready again once its workers take jobs', async () => {
    await redis.kill();
    const down = await waitFor(
      async () => {
        const r = await readiness();
        return r.body.error?.['health-probes'] === undefined ? null : r;
      },
      { timeoutMs: 10_000, intervalMs: 200 },
    );
    expect(down.status).toBe(503);
    expect(down.body.error?.['health-probes'].message).toMatch(
      /^health(-alert)?-worker: Redis (blocking )?connection /,
    );
    await redis.start();
    await waitFor(async () => (await readiness()).status === 200, { timeoutMs: 20_000 });
    const before = probes();
    await waitFor(() => probes() > before + 1, { timeoutMs: 10_000 });
  });
});
