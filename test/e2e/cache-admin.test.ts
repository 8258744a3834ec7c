import { createHash, randomBytes } from 'node:crypto';
import { PrivateRedis, freePort, uniqueId, waitFor } from '@aigw/testing';
import { Redis } from 'ioredis';
import { TestSystem } from './harness';

interface Stats {
  hits: number;
  misses: number;
  bypasses: number;
  stale: number;
  hitRate: number | null;
  entries: number;
  bytes: number;
  enabledByDefault: boolean;
  enabledDeployments: string[];
}

interface ErrorBody {
  error: { message: string; type: string; code: string; param: string | null };
}

/**
 * The response cache's administration through the whole system (ADR 0005), the cache in a Redis of its own:
 * per-model enablement from the catalog (on while CACHE_ENABLED is off on one gateway, off while it is on on the
 * other), invalidation by model, key prefix and all, statistics shared by two gateway replicas and the Prometheus
 * metrics, admin-only access and validation, and the cache's Redis gone: 503 for the admin, `bypass` for requests.
 */
describe('response cache administration (e2e)', () => {
  const cacheRedis = new PrivateRedis();
  let system: TestSystem;
  /** A second gateway replica, with the cache off globally (CACHE_ENABLED=false). */
  let offUrl: string;
  let userKey: string;

  beforeAll(async () => {
    await cacheRedis.start();
    system = new TestSystem({
      workers: 1,
      env: { CACHE_ENABLED: 'true', CACHE_TTL_S: '600', CACHE_REDIS_URL: cacheRedis.url },
      catalog: (s) => `providers:
  - id: sim0
    kind: openai
    baseUrl: ${s.sim.url}/v1
    apiKey: sk-sim-secret
    timeoutMs: 10000
    models:
      - { name: sim-gpt, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192 }
      - { name: sim-never, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192, cache: { enabled: false } }
      - { name: sim-always, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192, cache: { enabled: true, ttlS: 1 } }
`,
    });
    await system.start();
    const port = await freePort();
    await system.spawnApp('api-gateway', port, { CACHE_ENABLED: 'false' });
    offUrl = `http://127.0.0.1:${port}`;

    const [user] = await system.query<{ id: string }>("INSERT INTO users (name) VALUES ('cache-user') RETURNING id");
    userKey = `sk-aigw-${randomBytes(24).toString('base64url')}`;
    await system.query('INSERT INTO api_keys (user_id, role, key_hash, prefix) VALUES ($1, $2, $3, $4)', [
      user.id,
      'user',
      createHash('sha256').update(userKey).digest('hex'),
      userKey.slice(0, 16),
    ]);
  }, 90_000);

  afterAll(async () => {
    await system?.stop();
    await cacheRedis.stop();
  }, 30_000);

  const providerCalls = (): number => system.sim.stats().total;

  async function chat(
    prompt: string,
    model = 'sim-gpt',
    base = system.gatewayUrl,
    headers: Record<string, string> = {},
  ): Promise<string | null> {
    const res = await fetch(`${base}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...system.headers(), ...headers },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: prompt }] }),
    });
    expect(res.status).toBe(200);
    await res.json();
    return res.headers.get('x-gateway-cache');
  }

  async function admin<T>(method: string, route: string, key = system.adminKey): Promise<{ status: number; body: T }> {
    const res = await fetch(`${system.gatewayUrl}/api/v1/ai/admin/cache${route}`, {
      method,
      headers: { authorization: `Bearer ${key}` },
    });
    return { status: res.status, body: (await res.json()) as T };
  }

  async function stats(): Promise<Stats> {
    const res = await admin<Stats>('GET', '/stats');
    expect(res.status).toBe(200);
    return res.body;
  }

  /** The SHA-256 part of every entry's Redis key in the cache's Redis. */
  async function entryKeys(): Promise<string[]> {
    const redis = new Redis(cacheRedis.url);
    try {
      const keys = await redis.keys(`${system.prefix}:cache:*`);
      return keys.map((k) => k.slice(k.lastIndexOf(':') + 1));
    } finally {
      await redis.quit();
    }
  }

  it('before any lookup the hit rate is null (no data), not 0', async () => {
    const first = await stats();
    expect([first.hits, first.misses, first.hitRate]).toEqual([0, 0, null]);
  });

  it('per model: off in the catalog wins over CACHE_ENABLED=true, on wins over CACHE_ENABLED=false', async () => {
    const prompt = `per-model ${uniqueId()}`;
    expect(await chat(prompt, 'sim-never')).toBe('bypass');
    expect(await chat(prompt, 'sim-never')).toBe('bypass');

    // The replica with the cache off globally: sim-gpt follows it, sim-always is on by its own setting.
    expect(await chat(prompt, 'sim-gpt', offUrl)).toBe('bypass');
    expect(await chat(prompt, 'sim-gpt', offUrl)).toBe('bypass');
    expect(await chat(prompt, 'sim-always', offUrl)).toBe('miss');
    const calls = providerCalls();
    expect(await chat(prompt, 'sim-always', offUrl)).toBe('hit');
    expect(providerCalls()).toBe(calls);
    // Its own TTL (1 s) instead of CACHE_TTL_S (600 s).
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await chat(prompt, 'sim-always', offUrl)).toBe('miss');
  });

  it('statistics and metrics move with hits, misses and bypasses, across both replicas', async () => {
    // Each replica adds its counts to the totals every second: let the other one's earlier counts arrive first.
    await new Promise((r) => setTimeout(r, 1_200));
    const before = await stats();
    const prompt = `stats ${uniqueId()}`;
    expect(await chat(prompt)).toBe('miss');
    expect(await chat(prompt)).toBe('hit');
    expect(await chat(prompt, 'sim-gpt', system.gatewayUrl, { 'x-gateway-cache': 'no-store' })).toBe('bypass');
    // The other replica's bypass reaches the shared totals within its flush period.
    expect(await chat(prompt, 'sim-gpt', offUrl)).toBe('bypass');
    const after = await waitFor(async () => {
      const s = await stats();
      return s.bypasses - before.bypasses === 2 ? s : null;
    });
    expect(after.hits - before.hits).toBe(1);
    expect(after.misses - before.misses).toBe(1);
    expect(after.hitRate).toBeCloseTo(after.hits / (after.hits + after.misses), 9);
    expect(after.entries).toBeGreaterThan(0);
    expect(after.bytes).toBeGreaterThan(0);
    // Which deployments are cached, from each replica's default and the catalog's per-model settings.
    expect([after.enabledByDefault, after.enabledDeployments]).toEqual([true, ['sim0/sim-always', 'sim0/sim-gpt']]);
    const off = (await (
      await fetch(`${offUrl}/api/v1/ai/admin/cache/stats`, { headers: { authorization: `Bearer ${system.adminKey}` } })
    ).json()) as Stats;
    expect([off.enabledByDefault, off.enabledDeployments]).toEqual([false, ['sim0/sim-always']]);

    const metrics = await (await fetch(`${system.gatewayUrl}/metrics`)).text();
    const count = (result: string): number =>
      Number(new RegExp(`^aigw_cache_requests_total\\{result="${result}"\\} (\\d+)`, 'm').exec(metrics)?.[1]);
    expect(count('hit')).toBeGreaterThanOrEqual(1);
    expect(count('miss')).toBeGreaterThanOrEqual(1);
    expect(count('bypass')).toBeGreaterThanOrEqual(1);
    expect(count('stale')).toBe(0);
    expect(metrics).toMatch(/^aigw_cache_entries [1-9]\d*$/m);
    expect(metrics).toMatch(/^aigw_cache_bytes [1-9]\d*$/m);
  });

  it('invalidates one model, a key prefix, then everything', async () => {
    const a = `inv-a ${uniqueId()}`;
    const b = `inv-b ${uniqueId()}`;
    for (const p of [a, b]) {
      expect(await chat(p)).toBe('miss');
    }
    expect(await chat(a, 'sim-always', offUrl)).toBe('miss');

    // `sim0/sim-gpt` names the same model as `sim-gpt`: its entries go too.
    const byModel = await admin<{ deleted: number }>('DELETE', '?model=sim0/sim-gpt');
    expect(byModel.status).toBe(200);
    expect(byModel.body.deleted).toBeGreaterThanOrEqual(2);
    expect(await chat(a)).toBe('miss');
    expect(await chat(a, 'sim-always', offUrl)).toBe('hit');

    const [key] = (await entryKeys()).filter((k) => k.length === 64);
    const byPrefix = await admin<{ deleted: number }>('DELETE', `?prefix=${key.slice(0, 12).toUpperCase()}`);
    expect(byPrefix).toEqual({ status: 200, body: { deleted: 1 } });
    expect((await entryKeys()).includes(key)).toBe(false);

    const remaining = (await entryKeys()).length;
    expect(await admin('DELETE', '')).toEqual({ status: 200, body: { deleted: remaining } });
    expect((await stats()).entries).toBe(0);
    expect(await chat(b)).toBe('miss');

    const audited = await system.query<{ action: string; detail: { after: { deleted: number } } }>(
      "SELECT action, detail FROM audit_log WHERE action = 'cache.clear' ORDER BY id",
    );
    expect(audited.map((r) => r.detail.after.deleted)).toEqual([byModel.body.deleted, 1, remaining]);
  });

  it('is for admins only, and names the field of a bad query', async () => {
    const anonymous = await fetch(`${system.gatewayUrl}/api/v1/ai/admin/cache/stats`);
    expect(anonymous.status).toBe(401);
    for (const [method, route] of [
      ['GET', '/stats'],
      ['DELETE', ''],
    ]) {
      const res = await admin<ErrorBody>(method, route, userKey);
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('permission_denied');
    }
    const badPrefix = await admin<ErrorBody>('DELETE', '?prefix=xyz');
    expect(badPrefix.status).toBe(400);
    expect(badPrefix.body.error).toMatchObject({ type: 'invalid_request_error', param: 'prefix' });
    const both = await admin<ErrorBody>('DELETE', '?prefix=ab&model=sim-gpt');
    expect(both.status).toBe(400);
    expect(both.body.error.param).toBe('prefix');
    // A selector it does not have (a typo, or one it might be thought to have) must not clear everything.
    await chat('kept through a bad selector');
    const before = (await entryKeys()).length;
    expect(before).toBeGreaterThan(0);
    for (const [query, param] of [
      ['?provider=sim', 'provider'],
      ['?models=sim-gpt', 'models'],
      ['?model=sim-gpt&dryRun=true', 'dryRun'],
    ]) {
      const unknown = await admin<ErrorBody>('DELETE', query);
      expect(unknown.status).toBe(400);
      expect(unknown.body.error).toMatchObject({ code: 'invalid_request', param });
    }
    expect((await entryKeys()).length).toBe(before);
  });

  it('warms: the requests run once as jobs, fill the cache, and the next identical requests are hits', async () => {
    const chatPrompt = `warm-chat ${uniqueId()}`;
    const nativePrompt = `warm-native ${uniqueId()}`;
    const cachedPrompt = `warm-cached ${uniqueId()}`;
    expect(await chat(cachedPrompt)).toBe('miss');
    const calls = providerCalls();
    const res = await fetch(`${system.gatewayUrl}/api/v1/ai/admin/cache/warm`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({
        requests: [
          { model: 'sim-gpt', messages: [{ role: 'user', content: chatPrompt }] },
          { model: 'sim-gpt', prompt: nativePrompt },
          { model: 'sim-gpt', messages: [{ role: 'user', content: cachedPrompt }] },
          { model: 'sim-never', messages: [{ role: 'user', content: chatPrompt }] },
        ],
      }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      requested: 4,
      warmed: 2,
      alreadyCached: 1,
      skipped: 0,
      failed: 1,
      results: [
        { status: 'warmed' },
        { status: 'warmed' },
        { status: 'already_cached' },
        { status: 'failed', error: 'cache_disabled' },
      ],
    });
    expect(providerCalls()).toBe(calls + 2);
    expect(await chat(chatPrompt)).toBe('hit');
    const nat = await fetch(`${system.gatewayUrl}/api/v1/ai/generate`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({ model: 'sim-gpt', prompt: nativePrompt }),
    });
    expect(nat.headers.get('x-gateway-cache')).toBe('hit');
    expect(providerCalls()).toBe(calls + 2);
  });

  it('warming validates each request as its API does, naming the field, and is for admins only', async () => {
    const warm = async (body: unknown, key = system.adminKey): Promise<{ status: number; body: ErrorBody }> => {
      const res = await fetch(`${system.gatewayUrl}/api/v1/ai/admin/cache/warm`, {
        method: 'POST',
        headers: system.headers(key),
        body: JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as ErrorBody };
    };
    const noMessages = await warm({
      requests: [{ model: 'sim-gpt', messages: [{ role: 'user', content: 'x' }] }, { model: 'sim-gpt' }],
    });
    expect(noMessages.status).toBe(400);
    expect(noMessages.body.error.param).toBe('requests[1].messages');
    // Worded as the chat API words the same body.
    expect(noMessages.body.error.message).toBe("requests[1]: Invalid 'messages': messages must be an array.");
    const badNative = await warm({ requests: [{ model: 'sim-gpt', prompt: 'x', options: { temperature: 9 } }] });
    expect(badNative.status).toBe(400);
    expect(badNative.body.error.param).toBe('requests[0].options.temperature');
    // An unknown native field is refused as the native API refuses it.
    const unknownNative = await warm({ requests: [{ model: 'sim-gpt', prompt: 'x', options: { max_tokens: 3 } }] });
    expect(unknownNative.status).toBe(400);
    expect(unknownNative.body.error.param).toBe('requests[0].options.max_tokens');
    expect((await warm({ requests: [] })).body.error.param).toBe('requests');
    expect((await warm({ requests: Array.from({ length: 101 }, () => ({})) })).body.error.param).toBe('requests');
    expect((await warm({ requests: [{ model: 'sim-gpt', prompt: 'x' }] }, userKey)).status).toBe(403);
  });

  it("the cache's Redis unreachable: the admin endpoints answer 503, requests are a bypass", async () => {
    await cacheRedis.kill();
    for (const [method, route] of [
      ['GET', '/stats'],
      ['DELETE', ''],
      ['DELETE', '?model=sim-gpt'],
    ]) {
      const res = await admin<ErrorBody>(method, route);
      expect(res.status).toBe(503);
      expect(res.body.error).toMatchObject({ code: 'service_unavailable' });
      expect(res.body.error.message).toMatch(/cache/);
    }
    expect(await chat(`outage ${uniqueId()}`)).toBe('bypass');
  }, 20_000);
});
