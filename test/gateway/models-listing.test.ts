import { randomUUID } from 'node:crypto';
import { DEFAULT_CIRCUIT_CONFIG } from '@aigw/core';
import { ApiKeyStore, UsageRecordEntity } from '@aigw/entities';
import { CircuitBreakerStore, routingKeyPrefix } from '@aigw/routing';
import { waitFor } from '@aigw/testing';
import { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { GatewayHarness, REDIS_URL, type ErrorEnvelope } from './support';

interface Item {
  id: string;
  provider: string;
  model: string;
  displayName: string;
  description: string | null;
  capabilities: string[];
  contextWindow: number;
  pricing: { promptPer1k: number; completionPer1k: number };
  avgLatencyMs: number | null;
  successRate: number | null;
  health: string;
  available: boolean;
  unavailableReason: string | null;
  cooldownUntil: string | null;
  recommended: boolean;
}

const CONTRACT = [
  'id',
  'provider',
  'model',
  'displayName',
  'description',
  'capabilities',
  'contextWindow',
  'pricing',
  'avgLatencyMs',
  'successRate',
  'health',
  'available',
  'unavailableReason',
  'cooldownUntil',
  'recommended',
];

/**
 * `GET /api/v1/ai/models`: the listing contract, 24 h statistics from usage_records (refreshed in the
 * background), the monitor's health, circuit states from Redis, the `recommended` rule, ETag/304 and rate
 * limits. Catalog (support.ts): sim/sim-gpt (0.001 + 0.002), sim-b/sim-claude (0.003 + 0.015), sim-b/sim-gpt
 * disabled; no quality set, so the cheapest available chat deployment is recommended.
 */
describe('models listing', () => {
  const h = new GatewayHarness({ MODELS_STATS_REFRESH_S: '1' });
  let redis: Redis;

  beforeAll(async () => {
    await h.start();
    redis = new Redis(REDIS_URL);
  }, 60_000);
  afterAll(async () => {
    await redis.quit();
    await h.stop();
  }, 30_000);

  async function listing(headers: Record<string, string> = h.headers()): Promise<Map<string, Item>> {
    const res = await h.get('/api/v1/ai/models', headers);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { object: string; data: Item[] };
    expect(body.object).toBe('list');
    return new Map(body.data.map((d) => [d.id, d]));
  }

  it('needs a key by default (401 in the envelope)', async () => {
    const res = await fetch(`${h.url}/api/v1/ai/models`);
    expect(res.status).toBe(401);
    expect(((await res.json()) as ErrorEnvelope).error.code).toBe('invalid_api_key');
  });

  it('lists every deployment with the contract fields, any role', async () => {
    const items = await listing(h.headers(await h.userKey('lister')));
    expect([...items.keys()]).toEqual(['sim/sim-gpt', 'sim-b/sim-claude', 'sim-b/sim-gpt']);
    const gpt = items.get('sim/sim-gpt')!;
    for (const field of CONTRACT) {
      expect(gpt).toHaveProperty(field);
    }
    expect(gpt).toMatchObject({
      provider: 'sim',
      model: 'sim-gpt',
      displayName: 'sim-gpt',
      description: null,
      capabilities: ['chat', 'streaming'],
      contextWindow: 8192,
      pricing: { promptPer1k: 0.001, completionPer1k: 0.002 },
      health: 'unknown',
      available: true,
      recommended: true,
    });
    expect(items.get('sim-b/sim-gpt')).toMatchObject({ available: false, recommended: false });
    expect(items.get('sim-b/sim-claude')).toMatchObject({ available: true, recommended: false });
  });

  it('answers 304 to a matching If-None-Match, with the ETag and Cache-Control', async () => {
    const first = await h.get('/api/v1/ai/models');
    const etag = first.headers.get('etag');
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
    expect(first.headers.get('cache-control')).toBe('private, max-age=30');
    // A restricted key's list differs: a browser's cache must not answer one key's request with another's list.
    expect(first.headers.get('vary')).toBe('Authorization, x-api-key');
    const again = await h.get('/api/v1/ai/models', h.headers(h.adminKey, { 'if-none-match': `W/${etag}, "other"` }));
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
    expect(again.headers.get('etag')).toBe(etag);
    const stale = await h.get('/api/v1/ai/models', h.headers(h.adminKey, { 'if-none-match': '"stale"' }));
    expect(stale.status).toBe(200);
  });

  it('computes average latency and success rate over the last 24 h of usage_records', async () => {
    const ds = h.app.get(DataSource);
    const hourAgo = new Date(Date.now() - 3_600_000);
    const row = (fields: Partial<UsageRecordEntity>): Partial<UsageRecordEntity> => ({
      requestId: `req_${randomUUID().replace(/-/g, '')}`,
      userId: randomUUID(),
      apiKeyId: randomUUID(),
      requestedModel: 'sim-gpt',
      provider: 'sim',
      model: 'sim-gpt',
      status: 'success',
      attempts: 1,
      createdAt: hourAgo,
      ...fields,
    });
    await ds.getRepository(UsageRecordEntity).insert([
      row({ latencyMs: 100 }),
      row({ latencyMs: 200 }),
      row({ latencyMs: 300 }),
      row({ latencyMs: 5000, status: 'error', errorClass: 'timeout' }),
      // A cache hit, a request its client left, a coalesced follower of a failed call (the leader's row counts that
      // call) and a row older than a day do not count.
      row({ latencyMs: 50, status: 'error', errorClass: 'cancelled', errorCode: 'client_closed_request' }),
      row({ latencyMs: 1, cached: true, attempts: 0 }),
      row({ latencyMs: 4000, status: 'error', errorClass: 'timeout', errorCode: 'timeout', attempts: 0 }),
      row({ latencyMs: 1, createdAt: new Date(Date.now() - 25 * 3_600_000) }),
    ]);
    await waitFor(async () => (await listing()).get('sim/sim-gpt')?.avgLatencyMs === 200, {
      timeoutMs: 10_000,
      intervalMs: 200,
      message: 'statistics not refreshed',
    });
    const gpt = (await listing()).get('sim/sim-gpt')!;
    expect(gpt.successRate).toBe(0.75);
    expect((await listing()).get('sim-b/sim-claude')).toMatchObject({ avgLatencyMs: null, successRate: null });
  });

  it('shows an open circuit as unavailable within a second, and a failing provider too; recommended moves', async () => {
    const breakers = new CircuitBreakerStore(redis, routingKeyPrefix(h.prefix), DEFAULT_CIRCUIT_CONFIG);
    for (let i = 0; i < DEFAULT_CIRCUIT_CONFIG.failureThreshold; i++) {
      await breakers.recordFailure('sim/sim-gpt');
    }
    await waitFor(async () => (await listing()).get('sim/sim-gpt')?.available === false, {
      timeoutMs: 5_000,
      intervalMs: 100,
      message: 'open circuit not shown',
    });
    let items = await listing();
    expect(items.get('sim/sim-gpt')?.recommended).toBe(false);
    expect(items.get('sim-b/sim-claude')).toMatchObject({ available: true, recommended: true });

    await breakers.reset('sim/sim-gpt');
    await h.app.get(DataSource).query(`UPDATE providers SET health_status = 'failing' WHERE id = 'sim'`);
    await waitFor(async () => (await listing()).get('sim/sim-gpt')?.health === 'failing', {
      timeoutMs: 10_000,
      intervalMs: 200,
      message: 'health not refreshed',
    });
    items = await listing();
    expect(items.get('sim/sim-gpt')).toMatchObject({ available: false, recommended: false });
    expect(items.get('sim-b/sim-claude')?.recommended).toBe(true);
    await h.app.get(DataSource).query(`UPDATE providers SET health_status = 'healthy' WHERE id = 'sim'`);
  });

  it('says why: an open circuit, then a cooldown its provider asked for (with its end), and the reset ends it', async () => {
    const breakers = new CircuitBreakerStore(redis, routingKeyPrefix(h.prefix), DEFAULT_CIRCUIT_CONFIG);
    for (let i = 0; i < DEFAULT_CIRCUIT_CONFIG.failureThreshold; i++) {
      await breakers.recordFailure('sim/sim-gpt');
    }
    await waitFor(async () => (await listing()).get('sim/sim-gpt')?.unavailableReason === 'circuit_open', {
      timeoutMs: 5_000,
      intervalMs: 100,
      message: 'open circuit not shown',
    });
    expect((await listing()).get('sim/sim-gpt')?.cooldownUntil).toBeNull();
    // Closed again, and set aside for the 30 s its provider asked for: not an open circuit.
    await breakers.reset('sim/sim-gpt');
    await breakers.recordCooldown('sim/sim-gpt', null, 30_000, 429);
    const cooling = await waitFor(
      async () => {
        const item = (await listing()).get('sim/sim-gpt');
        return item?.unavailableReason === 'cooldown' ? item : null;
      },
      { timeoutMs: 5_000, intervalMs: 100, message: 'cooldown not shown' },
    );
    expect(cooling).toMatchObject({ available: false, recommended: false });
    const until = Date.parse(cooling.cooldownUntil ?? '');
    expect(until).toBeGreaterThan(Date.now());
    expect(until).toBeLessThanOrEqual(Date.now() + 30_000);
    expect((await listing()).get('sim-b/sim-claude')).toMatchObject({ unavailableReason: null, cooldownUntil: null });
    await breakers.reset('sim/sim-gpt');
    await waitFor(async () => (await listing()).get('sim/sim-gpt')?.available === true, {
      timeoutMs: 5_000,
      intervalMs: 100,
      message: 'the reset did not end the cooldown',
    });
    expect((await listing()).get('sim/sim-gpt')).toMatchObject({ unavailableReason: null, cooldownUntil: null });
  });

  it("counts against the key's requests per minute: 429 with Retry-After past it", async () => {
    const limited = await h.app.get(ApiKeyStore).create({ userName: 'rpm-2', role: 'user', rpm: 2 });
    const headers = h.headers(limited.key);
    const first = await h.get('/api/v1/ai/models', headers);
    expect(first.status).toBe(200);
    expect(first.headers.get('x-ratelimit-limit-requests')).toBe('2');
    expect((await h.get('/api/v1/ai/models', headers)).status).toBe(200);
    const refused = await h.get('/api/v1/ai/models', headers);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await refused.json()) as ErrorEnvelope).error.code).toBe('rate_limit_exceeded');
  });
});

/**
 * The workers' CB_OPEN_MS decides how long an open circuit refuses calls; the listing (and a preference's PUT) must
 * use the same, not the 60 s default: past 60 s but within CB_OPEN_MS the workers still refuse the deployment.
 */
describe('models listing with CB_OPEN_MS longer than the default', () => {
  const h = new GatewayHarness({ CB_OPEN_MS: '600000' });
  let redis: Redis;

  beforeAll(async () => {
    await h.start();
    redis = new Redis(REDIS_URL);
  }, 60_000);
  afterAll(async () => {
    await redis.quit();
    await h.stop();
  }, 30_000);

  it('shows a circuit opened two minutes ago as unavailable and refuses it as a preference (409)', async () => {
    // Opened two minutes ago by the clock of the store that recorded the failures.
    const breakers = new CircuitBreakerStore(redis, routingKeyPrefix(h.prefix), DEFAULT_CIRCUIT_CONFIG, {
      clock: () => Date.now() - 120_000,
    });
    for (let i = 0; i < DEFAULT_CIRCUIT_CONFIG.failureThreshold; i++) {
      await breakers.recordFailure('sim/sim-gpt');
    }
    const res = await h.get('/api/v1/ai/models');
    const items = ((await res.json()) as { data: Item[] }).data;
    expect(items.find((d) => d.id === 'sim/sim-gpt')).toMatchObject({ available: false, recommended: false });
    const put = await fetch(`${h.url}/api/v1/ai/preferences`, {
      method: 'PUT',
      headers: h.headers(),
      body: JSON.stringify({ provider: 'sim', model: 'sim-gpt' }),
    });
    expect(put.status).toBe(409);
    expect(((await put.json()) as ErrorEnvelope).error.code).toBe('model_unavailable');
    await breakers.reset('sim/sim-gpt');
  });
});

describe('models listing with MODELS_PUBLIC=true', () => {
  const h = new GatewayHarness({ MODELS_PUBLIC: 'true', MODELS_PUBLIC_RPM: '3' });

  beforeAll(() => h.start(), 60_000);
  afterAll(() => h.stop(), 30_000);

  it('answers without a key, publicly cacheable, limited per address; other routes still need a key', async () => {
    const res = await fetch(`${h.url}/api/v1/ai/models`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('public, max-age=30');
    expect(res.headers.get('x-ratelimit-remaining-requests')).toBe('2');
    // Nobody is shown the enabled deployments only: sim-b/sim-gpt is disabled, the operator's own business.
    expect(((await res.json()) as { data: Item[] }).data.map((d) => d.id)).toEqual(['sim/sim-gpt', 'sim-b/sim-claude']);
    // A shared cache may keep this public answer, but must not hand it to a caller with a key, whose list differs.
    expect(res.headers.get('vary')).toBe('Authorization, x-api-key');
    expect((await fetch(`${h.url}/api/v1/ai/models`)).status).toBe(200);
    expect((await fetch(`${h.url}/api/v1/ai/models`)).status).toBe(200);
    const refused = await fetch(`${h.url}/api/v1/ai/models`);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).not.toBeNull();
    // Without TRUST_PROXY the peer is the client: claiming another address in X-Forwarded-For gets no new budget.
    const spoofed = await fetch(`${h.url}/api/v1/ai/models`, { headers: { 'x-forwarded-for': '198.51.100.9' } });
    expect(spoofed.status).toBe(429);
    expect((await fetch(`${h.url}/v1/models`)).status).toBe(401);
    expect((await fetch(`${h.url}/api/v1/ai/preferences`)).status).toBe(401);

    // A caller who sends a key is that key's: an invalid one is refused, a valid one is not held to the address's
    // limit (spent above) and gets a private answer.
    const invalid = await h.get('/api/v1/ai/models', h.headers('sk-aigw-not-a-real-key-0123456789'));
    expect(invalid.status).toBe(401);
    const keyed = await h.get('/api/v1/ai/models');
    expect(keyed.status).toBe(200);
    expect(keyed.headers.get('cache-control')).toBe('private, max-age=30');
    expect(keyed.headers.get('x-ratelimit-limit-requests')).toBeNull();
    expect(((await keyed.json()) as { data: Item[] }).data.map((d) => d.id)).toContain('sim-b/sim-gpt');
    expect(keyed.headers.get('etag')).not.toBe(res.headers.get('etag'));
  });
});

describe('models listing with MODELS_PUBLIC=true behind a trusted proxy (TRUST_PROXY)', () => {
  // The test's requests come from loopback: they play the proxy, and X-Forwarded-For names the clients.
  const h = new GatewayHarness({ MODELS_PUBLIC: 'true', MODELS_PUBLIC_RPM: '2', TRUST_PROXY: 'loopback' });

  beforeAll(() => h.start(), 60_000);
  afterAll(() => h.stop(), 30_000);

  const from = (client: string): Promise<Response> =>
    fetch(`${h.url}/api/v1/ai/models`, { headers: { 'x-forwarded-for': client } });

  it('limits each client behind the proxy on its own, not all of them as the one proxy address', async () => {
    expect((await from('203.0.113.1')).status).toBe(200);
    expect((await from('203.0.113.1')).status).toBe(200);
    expect((await from('203.0.113.1')).status).toBe(429);
    const other = await from('203.0.113.2');
    expect(other.status).toBe(200);
    expect(other.headers.get('x-ratelimit-remaining-requests')).toBe('1');
    // The client is the address the last trusted proxy saw: a forged entry before it changes nothing.
    expect((await from('198.51.100.7, 203.0.113.1')).status).toBe(429);
  });

  it('counts an IPv6 client by its /64: another address of the same network gets no new budget', async () => {
    expect((await from('2001:db8:5:6::1')).status).toBe(200);
    expect((await from('2001:db8:5:6::2')).status).toBe(200);
    expect((await from('2001:db8:5:6:a:b:c:d')).status).toBe(429);
    expect((await from('2001:db8:5:7::1')).status).toBe(200);
  });
});

/**
 * Circuit times are written on the Redis clock (the scripts' `TIME`); a gateway whose own clock is off compared them
 * with it, and showed a circuit opened a moment ago as past CB_OPEN_MS (available) when its clock ran ahead. The
 * gateway learns the offset with a `TIME` at each statistics refresh and reads circuit times on the Redis clock.
 */
describe('models listing on a gateway whose clock runs 3 minutes ahead of Redis', () => {
  const SKEW_MS = 180_000;
  const h = new GatewayHarness({ MODELS_STATS_REFRESH_S: '1' });
  let redis: Redis;

  beforeAll(async () => {
    const realNow = Date.now.bind(Date);
    jest.spyOn(Date, 'now').mockImplementation(() => realNow() + SKEW_MS);
    await h.start();
    redis = new Redis(REDIS_URL);
  }, 60_000);
  afterAll(async () => {
    jest.restoreAllMocks();
    await redis.quit();
    await h.stop();
  }, 30_000);

  it('shows a circuit opened just now as unavailable (circuit_open) in the listing', async () => {
    // No injected clock: the scripts write the Redis server's time, as the workers' do.
    const breakers = new CircuitBreakerStore(redis, routingKeyPrefix(h.prefix), DEFAULT_CIRCUIT_CONFIG);
    for (let i = 0; i < DEFAULT_CIRCUIT_CONFIG.failureThreshold; i++) {
      await breakers.recordFailure('sim/sim-gpt');
    }
    const res = await h.get('/api/v1/ai/models');
    const items = ((await res.json()) as { data: Item[] }).data;
    expect(items.find((d) => d.id === 'sim/sim-gpt')).toMatchObject({
      available: false,
      unavailableReason: 'circuit_open',
    });
    await breakers.reset('sim/sim-gpt');
  });

  it('shows a cooldown of a minute as running in the admin providers list (its end on the Redis clock)', async () => {
    const breakers = new CircuitBreakerStore(redis, routingKeyPrefix(h.prefix), DEFAULT_CIRCUIT_CONFIG);
    await breakers.recordCooldown('sim/sim-gpt', null, 60_000, 429);
    const res = await h.get('/api/v1/ai/admin/providers');
    expect(res.status).toBe(200);
    const sim = (
      (await res.json()) as { data: { id: string; circuits: { id: string; cooldownUntil: string | null }[] }[] }
    ).data.find((p) => p.id === 'sim');
    const until = sim?.circuits.find((c) => c.id === 'sim/sim-gpt')?.cooldownUntil ?? null;
    expect(until).not.toBeNull();
    // On the Redis clock: about a minute after the real now, which is 3 minutes before this process's.
    expect(Date.parse(until ?? '')).toBeLessThan(Date.now() - SKEW_MS + 61_000);
    await breakers.reset('sim/sim-gpt');
  });
});
