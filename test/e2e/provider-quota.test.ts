import { openMonitor, PrivateRedis, waitFor } from '@aigw/testing';
import { Redis } from 'ioredis';
import { TestSystem } from './harness';

interface QuotaWindow {
  limit: number | null;
  remaining: number | null;
  resetAt: string | null;
  stale: boolean;
}

interface Quota {
  requests: QuotaWindow | null;
  tokens: QuotaWindow | null;
  observedAt: string;
  route: 'direct' | 'gateway';
}

const PRICES = 'promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192';

/**
 * Providers' rate limits from their response headers to the admin providers list: the simulator sends OpenAI- and
 * Anthropic-style headers, traffic flows through the real gateway and worker, and the list shows each provider's
 * quota (per route) within about a second; a provider never called shows null. The system runs on a Redis of its
 * own so that the test can watch every command: the request path must not write the quota, only the flush timer.
 */
describe('provider quota in the admin list (e2e)', () => {
  const redis = new PrivateRedis();
  const env: Record<string, string> = {};
  const system = new TestSystem({
    env,
    catalog: (s) =>
      `${s.catalogYaml()}  - id: idle
    kind: openai
    baseUrl: ${s.sim.url}/v1
    timeoutMs: 10000
    models:
      - { name: idle-gpt, ${PRICES} }
  - id: proxied
    kind: openai
    baseUrl: http://127.0.0.1:9/v1
    routing: gateway
    gateway: proxy
    timeoutMs: 10000
    models:
      - { name: proxied-gpt, ${PRICES} }
gateways:
  - id: proxy
    baseUrl: ${s.sim.url}/v1
    timeoutMs: 10000
`,
  });

  beforeAll(async () => {
    await redis.start();
    env.REDIS_URL = redis.url;
    await system.start();
  }, 120_000);
  afterAll(async () => {
    await system.stop();
    await redis.stop();
  }, 30_000);

  async function quotas(): Promise<Map<string, Quota | null>> {
    const res = await fetch(`${system.gatewayUrl}/api/v1/ai/admin/providers`, { headers: system.headers() });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { data: { id: string; quota: Quota | null }[] };
    return new Map(body.data.map((p) => [p.id, p.quota]));
  }

  let asked = 0;
  async function ask(model: string): Promise<number> {
    const res = await fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({ model, messages: [{ role: 'user', content: `quota ${model} #${asked++}` }] }),
    });
    await res.arrayBuffer();
    return res.status;
  }

  it('shows what the headers said per provider and route; null for a provider never called', async () => {
    system.sim.configure({
      rateLimit: {
        requests: { limit: 60, remaining: 42, resetMs: 30_000 },
        tokens: { limit: 90_000, remaining: 81_000, resetMs: 1 },
      },
    });
    const sent = Date.now();
    expect(await ask('sim-gpt')).toBe(200);
    expect(await ask('sim-claude')).toBe(200);
    expect(await ask('proxied-gpt')).toBe(200);

    let seen = new Map<string, Quota | null>();
    await waitFor(
      async () => {
        seen = await quotas();
        return ['sim0', 'sim0-anthropic', 'proxied'].every((id) => seen.get(id) !== null);
      },
      { timeoutMs: 10_000, intervalMs: 100, message: 'quota shown for the three providers called' },
    );

    // OpenAI dialect: durations from the moment the response arrived.
    const openai = seen.get('sim0');
    expect(openai).toMatchObject({
      route: 'direct',
      requests: { limit: 60, remaining: 42, stale: false },
      tokens: { limit: 90_000, remaining: 81_000 },
    });
    const observedAt = Date.parse(openai?.observedAt ?? '');
    expect(observedAt).toBeGreaterThanOrEqual(sent - 1000);
    expect(Date.parse(openai?.requests?.resetAt ?? '') - observedAt).toBe(30_000);
    // 1 ms after the response the tokens window had refilled: the list says so rather than pass it off as current.
    expect(openai?.tokens?.stale).toBe(true);
    // Anthropic dialect: RFC 3339 instants, to the second.
    const anthropic = seen.get('sim0-anthropic');
    expect(anthropic).toMatchObject({ route: 'direct', requests: { limit: 60, remaining: 42 } });
    expect(Date.parse(anthropic?.requests?.resetAt ?? '') - Date.parse(anthropic?.observedAt ?? '')).toBeGreaterThan(
      29_000,
    );
    // Through the gateway: what the proxy reported, marked as such.
    expect(seen.get('proxied')).toMatchObject({ route: 'gateway', requests: { remaining: 42 } });
    // Never called; and the catalog's other providers of the simulator were not either.
    expect(seen.get('idle')).toBeNull();
    // Only numbers and times: nothing of the providers' keys.
    expect(JSON.stringify([...seen.values()])).not.toContain('sk-sim-secret');
  }, 60_000);

  it('a 429 with Retry-After shows the window spent until then', async () => {
    system.sim.configure({ failRate: 1, failStatus: [429], retryAfterS: 1 });
    let answeredAt = Date.now();
    try {
      expect(await ask('sim-gpt')).not.toBe(200);
      answeredAt = Date.now();
    } finally {
      system.sim.configure({ failRate: 0 });
    }
    let quota: Quota | null | undefined = null;
    await waitFor(
      async () => {
        quota = (await quotas()).get('sim0');
        return quota?.requests?.remaining === 0;
      },
      { timeoutMs: 10_000, intervalMs: 100, message: 'the 429 reaches the list' },
    );
    const q = quota as unknown as Quota;
    expect(q.requests?.limit).toBe(60);
    expect(Date.parse(q.requests?.resetAt ?? '') - Date.parse(q.observedAt)).toBe(1000);
    // The last attempt's 429 and its Retry-After also set the deployment aside for that second (its cooldown), which
    // ends at most a second after the answer: the next test's requests would be answered 429 without a call until then.
    const cooled = answeredAt + 1200 - Date.now();
    if (cooled > 0) {
      await new Promise((resolve) => setTimeout(resolve, cooled));
    }
  }, 60_000);

  it('the request path never writes the quota: only the flush timer does, at most once a second per worker', async () => {
    system.sim.configure({ rateLimit: { requests: { limit: 60, remaining: 7, resetMs: 1000 }, tokens: null } });
    const client = new Redis(redis.url);
    const writes: string[] = [];
    let monitor: Redis | undefined;
    try {
      monitor = await openMonitor(client);
      monitor.on('monitor', (_time: string, args: string[]) => {
        if (args.some((a) => a.endsWith(':provider-quota'))) {
          writes.push(args[0].toLowerCase());
        }
      });
      const started = Date.now();
      const requests = 200;
      // Eight clients at once, so that many requests share each second.
      const statuses: number[] = [];
      await Promise.all(
        Array.from({ length: 8 }, async (_, c) => {
          for (let i = c; i < requests; i += 8) {
            statuses.push(await ask(i % 2 === 0 ? 'sim-gpt' : 'sim-claude'));
          }
        }),
      );
      expect(statuses.filter((s) => s !== 200)).toEqual([]);
      await waitFor(async () => (await quotas()).get('sim0')?.requests?.remaining === 7, {
        timeoutMs: 10_000,
        message: 'the new figures reach the list',
      });
      const seconds = (Date.now() - started) / 1000;
      const hsets = writes.filter((c) => c === 'hset').length;
      // One worker: at most one flush per second elapsed (plus the one in progress at either end), however many
      // requests went by; each flush is HSET + PEXPIRE, and the admin list's reads are HGETALL.
      expect(hsets).toBeGreaterThanOrEqual(1);
      expect(hsets).toBeLessThanOrEqual(Math.ceil(seconds) + 2);
      // The PEXPIRE of a flush under way may not have been logged yet.
      expect(writes.filter((c) => c === 'pexpire').length).toBeGreaterThanOrEqual(hsets - 1);
      process.stdout.write(`provider-quota: ${requests} requests in ${seconds.toFixed(1)} s, ${hsets} HSET\n`);
    } finally {
      monitor?.disconnect();
      client.disconnect();
    }
  }, 90_000);
});
