import { PrivateRedis, waitFor } from '@aigw/testing';
import { TestSystem, type AppProcess } from '../e2e/harness';

/**
 * SIGTERM while Redis is gone: every app (gateway, worker, monitor) must exit within SHUTDOWN_GRACE_MS,
 * 0 when it had nothing to give up and non-zero when it abandoned work. Before, a worker whose Redis had
 * gone ignored SIGTERM (its connections' QUIT waited for Redis forever).
 */
const GRACE_MS = 3_000;
/** Process exit and the OS reporting it; the apps' own watchdog fires just before GRACE_MS. */
const EXIT_SLACK_MS = 500;

async function terminateAll(apps: AppProcess[]): Promise<{ name: string; code: number | null; ms: number }[]> {
  const started = Date.now();
  const exits = apps.map(async (a) => {
    const code = await a.exited;
    return { name: a.name, code, ms: Date.now() - started };
  });
  for (const a of apps) {
    a.child.kill('SIGTERM');
  }
  return Promise.all(exits);
}

describe.each([
  ['idle', false],
  ['with a generation in flight', true],
])('SIGTERM with Redis stopped (%s)', (_label, busy) => {
  const redis = new PrivateRedis();
  let sys: TestSystem;

  beforeAll(async () => {
    await redis.start();
    sys = new TestSystem({
      workers: 1,
      env: { REDIS_URL: redis.url, SHUTDOWN_GRACE_MS: String(GRACE_MS), LOG_LEVEL: 'log' },
    });
    await sys.start();
  }, 60_000);

  afterAll(async () => {
    await sys?.stop();
    await redis.stop();
  }, 60_000);

  it('every app exits within the grace period', async () => {
    let answer: Promise<Response> | undefined;
    if (busy) {
      sys.sim.configure({ latencyMs: 60_000 });
      answer = fetch(`${sys.gatewayUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: sys.headers(),
        body: JSON.stringify({ model: 'sim0/sim-gpt', messages: [{ role: 'user', content: 'slow' }] }),
      });
      await waitFor(() => sys.sim.stats().inFlight === 1, { timeoutMs: 10_000, message: 'the call never started' });
    }
    await redis.kill();
    // Long enough for every client to notice and start reconnecting.
    await new Promise((r) => setTimeout(r, 1_500));

    const exits = await terminateAll([...sys.apps]);
    for (const e of exits) {
      expect({ app: e.name, inTime: e.ms <= GRACE_MS + EXIT_SLACK_MS }).toEqual({ app: e.name, inTime: true });
    }
    const code = (name: string): number | null => exits.find((e) => e.name === name)?.code ?? null;
    // Busy, the apps running it gave up on the generation: the worker aborted it, the gateway answered its client
    // 503, and each exits 1; the single process exits 1 when any app it hosts abandoned work (ADR 0010).
    if (sys.topology === 'single') {
      expect(code('all-in-one')).toBe(busy ? 1 : 0);
    } else {
      expect(code('health-monitor')).toBe(0);
      expect(code('router-worker')).toBe(busy ? 1 : 0);
      expect(code('api-gateway')).toBe(busy ? 1 : 0);
    }
    if (busy) {
      const r = await answer;
      expect(r?.status).toBe(503);
      expect(r?.headers.get('retry-after')).toBeTruthy();
    }
    for (const app of sys.apps) {
      const out = app.output.join('');
      expect({ app: app.name, unhandled: out.includes('Unhandled error event') }).toEqual({
        app: app.name,
        unhandled: false,
      });
    }
  }, 60_000);
});
