import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { freePort, waitFor } from '@aigw/testing';
import { REDIS_URL, TestSystem } from '../e2e/harness';

/** A loopback alert webhook: records every JSON body it receives. */
async function webhook(): Promise<{ url: string; bodies: Record<string, unknown>[]; close(): Promise<void> }> {
  const bodies: Record<string, unknown>[] = [];
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      bodies.push(JSON.parse(raw) as Record<string, unknown>);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/alerts`,
    bodies,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const modelList = 'GET /v1/models';
const completions = 'POST /v1/chat/completions';

/**
 * The monitor as processes: two replicas share the probe schedules (each probe runs once per interval), a
 * provider that starts failing turns `failing` after the threshold and recovers, each transition gives one alert
 * at the webhook, and probes never reach a completion endpoint.
 */
describe('health monitor: schedules, status, alerts (two replicas)', () => {
  let system: TestSystem;
  let hook: Awaited<ReturnType<typeof webhook>>;

  beforeAll(async () => {
    hook = await webhook();
    system = new TestSystem({
      workers: 0,
      catalog: (s) => `providers:
  - id: sim
    kind: openai
    baseUrl: ${s.sim.url}/v1
    apiKey: sk-sim-secret-health
    timeoutMs: 2000
    healthIntervalS: 1
    models:
      - { name: sim-gpt, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192 }
`,
      env: {
        HEALTH_PROBES_ENABLED: 'true',
        HEALTH_INTERVAL_S: '300',
        HEALTH_FAILURE_THRESHOLD: '2',
        HEALTH_DISCOVERY_INTERVAL_S: '3600',
        ALERT_WEBHOOK_URL: hook.url,
      },
    });
    await system.start();
    await system.addReplica('health-monitor');
  });

  afterAll(async () => {
    await system?.stop();
    await hook?.close();
  });

  const status = async (): Promise<string> =>
    (await system.query<{ health_status: string }>(`SELECT health_status FROM providers WHERE id = 'sim'`))[0]
      .health_status;

  it('runs each probe once per interval with two monitors, never a completion', async () => {
    await waitFor(async () => (await status()) === 'healthy', { timeoutMs: 10_000 });
    const count = () => system.sim.stats().byRoute[modelList] ?? 0;
    const before = count();
    const started = Date.now();
    await new Promise((r) => setTimeout(r, 5000));
    const probes = count() - before;
    const intervals = (Date.now() - started) / 1000;
    // One probe a second, not two: allow one either way for the edges of the window.
    expect(probes).toBeGreaterThanOrEqual(Math.floor(intervals) - 1);
    expect(probes).toBeLessThanOrEqual(Math.ceil(intervals) + 1);
    expect(system.sim.stats().byRoute[completions] ?? 0).toBe(0);
    // The history agrees: one row per probe, each with its route.
    const rows = await system.query<{ route: string; ok: boolean }>(
      `SELECT route, ok FROM provider_health_checks WHERE provider_id = 'sim'`,
    );
    expect(rows.length).toBeGreaterThanOrEqual(probes);
    expect(new Set(rows.map((r) => r.route))).toEqual(new Set(['direct']));
  });

  it('turns failing after the threshold and recovers, with exactly one alert per transition', async () => {
    system.sim.configure({ failRate: 1, failStatus: [503] });
    await waitFor(async () => (await status()) === 'failing', { timeoutMs: 10_000 });
    const [row] = await system.query<{ consecutive_failures: number; last_error: string }>(
      `SELECT consecutive_failures, last_error FROM providers WHERE id = 'sim'`,
    );
    expect(row.consecutive_failures).toBeGreaterThanOrEqual(2);
    expect(row.last_error).toMatch(/^direct: server_error/);
    expect(row.last_error).not.toContain('sk-sim-secret-health');
    // Stay failing for a few more probes: still one alert.
    await new Promise((r) => setTimeout(r, 2500));
    system.sim.configure({ failRate: 0 });
    await waitFor(async () => (await status()) !== 'failing', { timeoutMs: 10_000 });
    await waitFor(() => hook.bodies.length >= 2, { timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 2000));
    expect(hook.bodies.map((b) => [b.kind, b.subject, b.id, b.status])).toEqual([
      ['failing', 'provider', 'sim', 'failing'],
      ['recovered', 'provider', 'sim', 'degraded'],
    ]);
    expect(hook.bodies[0].lastError).toMatch(/server_error/);
    expect(JSON.stringify(hook.bodies)).not.toContain('sk-sim-secret-health');
    // Recovered but with failures in the window: degraded, then healthy once they age out (HEALTH_WINDOW 10).
    expect(await status()).toBe('degraded');

    const metrics = await Promise.all(
      system.monitors().map(async (a) => (await fetch(`http://127.0.0.1:${a.port}/metrics`)).text()),
    );
    for (const text of metrics) {
      expect(text).toContain('aigw_provider_health{provider="sim"} 2');
    }
    const alertCount = (kind: string) =>
      metrics
        .map((t) => new RegExp(`aigw_provider_alerts_total\\{provider="sim",kind="${kind}"\\} (\\d+)`).exec(t))
        .reduce((n, m) => n + (m === null ? 0 : Number(m[1])), 0);
    expect(alertCount('failing')).toBe(1);
    expect(alertCount('recovered')).toBe(1);
  });
});

describe('health monitor: auto provider whose direct route is refused', () => {
  let system: TestSystem;
  let closedPort: number;

  beforeAll(async () => {
    closedPort = await freePort();
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
    baseUrl: http://127.0.0.1:${closedPort}/v1
    apiKey: sk-zai-secret
    routing: auto
    gateway: proxy
    timeoutMs: 2000
    healthIntervalS: 1
    models:
      - { name: sim-gpt, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192 }
      - { name: retired-model, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192 }
`,
      env: { HEALTH_PROBES_ENABLED: 'true', HEALTH_INTERVAL_S: '1', HEALTH_DISCOVERY_INTERVAL_S: '1' },
    });
    await system.start();
  });

  afterAll(async () => {
    await system?.stop();
  });

  it('records both routes, stays up through the gateway, and sets the route memory to the gateway', async () => {
    const redis = new Redis(REDIS_URL);
    try {
      await waitFor(async () => (await redis.get(`${system.prefix}:routing:route:zai`)) === 'gateway', {
        timeoutMs: 10_000,
      });
    } finally {
      redis.disconnect();
    }
    const rows = await system.query<{ route: string; ok: boolean; error_class: string | null; message: string }>(
      `SELECT route, ok, error_class, message FROM provider_health_checks WHERE provider_id = 'zai' ORDER BY id DESC LIMIT 2`,
    );
    expect(rows.map((r) => [r.route, r.ok]).sort()).toEqual([
      ['direct', false],
      ['gateway', true],
    ]);
    expect(rows.find((r) => r.route === 'direct')).toMatchObject({ error_class: 'network' });
    expect(rows.find((r) => r.route === 'direct')?.message).toMatch(/^connection_refused: /);
    const [provider] = await system.query<{ health_status: string; last_error: string }>(
      `SELECT health_status, last_error FROM providers WHERE id = 'zai'`,
    );
    expect(provider.health_status).toBe('healthy');
    expect(provider.last_error).toMatch(/^direct: connection_refused/);
    // The gateway itself is probed on its own (route health).
    await waitFor(
      async () =>
        (await system.query(`SELECT 1 FROM provider_health_checks WHERE gateway_id = 'proxy' AND route = 'health'`))
          .length > 0,
      { timeoutMs: 5000 },
    );
  });

  it('discovers the models the gateway serves, and never enables any', async () => {
    const discovered = await waitFor(
      async () => {
        const rows = await system.query<{ model: string; capabilities: string[] }>(
          `SELECT model, capabilities FROM provider_discovered_models WHERE provider_id = 'zai' ORDER BY model`,
        );
        return rows.length > 0 ? rows : null;
      },
      { timeoutMs: 10_000 },
    );
    expect(discovered.map((r) => r.model)).toEqual(['sim-claude', 'sim-gpt', 'sim-shared']);
    expect(discovered[0].capabilities).toEqual(['chat', 'streaming', 'tools', 'json']);
    const models = await system.query<{ name: string; enabled: boolean }>(
      `SELECT name, enabled FROM models WHERE provider_id = 'zai' ORDER BY name`,
    );
    expect(models).toEqual([
      { name: 'retired-model', enabled: true },
      { name: 'sim-gpt', enabled: true },
    ]);
  });
});
