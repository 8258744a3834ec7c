import { createHash, randomBytes } from 'node:crypto';
import { GovernanceKeys, QuotaCountersStore, periodsAt } from '@aigw/governance';
import { waitFor } from '@aigw/testing';
import { Redis } from 'ioredis';
import { REDIS_URL, TestSystem } from '../e2e/harness';

/**
 * Every generation endpoint is governed alike: chat completions (sync and streamed, whose usage comes at the end),
 * Anthropic's `/v1/messages` (sync and streamed), the native `POST /api/v1/ai/generate` and `/v1/embeddings` each
 * count one request in the day, settle the day's spend to what its usage record bills, and the key's minute of
 * tokens to the tokens that record counts; and a daily request limit, once reached, is refused on each with a 429 whose
 * Retry-After is the time left to the UTC midnight and whose x-ratelimit-* headers describe the key's minute.
 */
describe('every generation endpoint counts, settles and refuses alike', () => {
  const sys = new TestSystem({
    workers: 1,
    // The response cache on: a hit is governed too (each other request here asks something of its own).
    env: { AUTH_CACHE_TTL_MS: '300', CACHE_ENABLED: 'true' },
    catalog: (s) => `${s.catalogYaml()}  - id: sim-embedder
    kind: openai
    baseUrl: ${s.sim.url}/v1
    apiKey: sk-sim-secret-embed
    models:
      - { name: sim-embed, promptPer1k: 0.0001, completionPer1k: 0, contextWindow: 8192, capabilities: [embeddings] }
`,
  });
  let redis: Redis;

  beforeAll(async () => {
    await sys.start();
    redis = new Redis(REDIS_URL);
  }, 90_000);

  afterAll(async () => {
    await redis?.quit();
    await sys.stop();
  }, 60_000);

  async function userWithKey(
    name: string,
    dailyRequests: number,
    key: { rpm: number; tpm: number },
  ): Promise<{ userId: string; keyId: string; key: string }> {
    const [user] = await sys.query<{ id: string }>('INSERT INTO users (name) VALUES ($1) RETURNING id', [name]);
    const plain = `sk-aigw-${randomBytes(24).toString('base64url')}`;
    const [row] = await sys.query<{ id: string }>(
      'INSERT INTO api_keys (user_id, role, key_hash, prefix, rpm, tpm) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id',
      [user.id, 'user', createHash('sha256').update(plain).digest('hex'), plain.slice(0, 16), key.rpm, key.tpm],
    );
    await sys.query(
      `INSERT INTO user_quotas (user_id, tier, daily_spend_limit_usd, daily_request_limit) VALUES ($1, 'default', 1000, $2)`,
      [user.id, dailyRequests],
    );
    return { userId: user.id, keyId: row.id, key: plain };
  }

  /** The requests of every endpoint, one each. */
  const calls: {
    name: string;
    path: string;
    body: (tag: string) => Record<string, unknown>;
    stream?: boolean;
    /** An async submission: 202, answered by its job. */
    queued?: boolean;
  }[] = [
    {
      name: 'chat',
      path: '/v1/chat/completions',
      body: (tag) => ({ model: 'sim0/sim-gpt', max_tokens: 50, messages: [{ role: 'user', content: tag }] }),
    },
    {
      name: 'chat stream',
      path: '/v1/chat/completions',
      stream: true,
      body: (tag) => ({
        model: 'sim0/sim-gpt',
        max_tokens: 50,
        stream: true,
        stream_options: { include_usage: true },
        messages: [{ role: 'user', content: tag }],
      }),
    },
    {
      name: 'messages',
      path: '/v1/messages',
      body: (tag) => ({
        model: 'sim0-anthropic/sim-claude',
        max_tokens: 50,
        messages: [{ role: 'user', content: tag }],
      }),
    },
    {
      name: 'messages stream',
      path: '/v1/messages',
      stream: true,
      body: (tag) => ({
        model: 'sim0-anthropic/sim-claude',
        max_tokens: 50,
        stream: true,
        messages: [{ role: 'user', content: tag }],
      }),
    },
    {
      name: 'native',
      path: '/api/v1/ai/generate',
      body: (tag) => ({ model: 'sim0/sim-gpt', prompt: tag, options: { maxTokens: 50 }, useCache: false }),
    },
    {
      name: 'native job',
      path: '/api/v1/ai/jobs',
      queued: true,
      body: (tag) => ({ model: 'sim0/sim-gpt', prompt: tag, options: { maxTokens: 50 }, useCache: false }),
    },
    {
      name: 'embeddings',
      path: '/v1/embeddings',
      body: (tag) => ({ model: 'sim-embedder/sim-embed', input: [tag, `${tag} again`] }),
    },
  ];

  function send(key: string, call: (typeof calls)[number], tag: string): Promise<Response> {
    return fetch(`${sys.gatewayUrl}${call.path}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${key}`,
        'content-type': 'application/json',
        'anthropic-version': '2023-06-01',
      },
      body: JSON.stringify(call.body(tag)),
    });
  }

  /** Waits, when the minute has less than 20 s left, for the next one: what is counted in a minute, in one. */
  async function earlyInMinute(): Promise<void> {
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 40_000) {
      await new Promise((r) => setTimeout(r, 60_500 - intoMinute));
    }
  }

  it.each(calls.flatMap((c) => [[c.name, c, true] as const, [`${c.name} (no usage reported)`, c, false] as const]))(
    '%s: one request counted, spend and the minute tokens settled to its usage record',
    async (name, call, reportUsage) => {
      sys.sim.configure({ echo: false, completionTokens: 20, latencyMs: 0, chunkDelayMs: 5, reportUsage });
      await earlyInMinute();
      const { userId, keyId, key } = await userWithKey(`parity-${name}`, 1000, { rpm: 1000, tpm: 1_000_000 });
      const windowAt = Date.now();
      const res = await send(key, call, `parity ${randomBytes(6).toString('hex')}`);
      expect(res.status).toBe(call.queued === true ? 202 : 200);
      // The key's minute as admission left it, on a stream's answer too (sent before its first event).
      expect(res.headers.get('x-ratelimit-limit-requests')).toBe('1000');
      expect(res.headers.get('x-ratelimit-remaining-requests')).toBe('999');
      expect(res.headers.get('x-ratelimit-limit-tokens')).toBe('1000000');
      expect(Number(res.headers.get('x-ratelimit-remaining-tokens'))).toBeLessThan(1_000_000);
      expect(res.headers.get('x-ratelimit-reset-requests')).toMatch(/^(\d+ms|\d+s|1m0s)$/);
      await res.text();
      const [row] = await waitFor(
        async () => {
          const r = await sys.query<{ n: string; spent: string; tokens: string }>(
            `SELECT count(*) AS n, coalesce(sum(cost_usd), 0) AS spent,
                    coalesce(sum(prompt_tokens + completion_tokens), 0) AS tokens
               FROM usage_records WHERE user_id = $1`,
            [userId],
          );
          return Number(r[0].n) === 1 ? r : null;
        },
        { timeoutMs: 15_000, message: 'usage row did not arrive' },
      );
      expect(Number(row.spent)).toBeGreaterThan(0);
      const counters = new QuotaCountersStore(redis, new GovernanceKeys(sys.prefix));
      const keys = new GovernanceKeys(sys.prefix);
      await waitFor(
        async () => {
          const c = await counters.read(userId, Date.now());
          return Math.abs(c.dailySpendUsd - Number(row.spent)) < 1e-12 ? c : null;
        },
        { timeoutMs: 10_000, message: `spend not settled to ${row.spent}` },
      );
      const c = await counters.read(userId, Date.now());
      expect(c.dailyRequests).toBe(1);
      const minuteTokens = Number((await redis.get(keys.keyTokens(keyId, periodsAt(windowAt)))) ?? 0);
      expect(minuteTokens).toBe(Number(row.tokens));
      const minuteRequests = Number((await redis.get(keys.keyRequests(keyId, periodsAt(windowAt)))) ?? 0);
      expect(minuteRequests).toBe(1);
    },
    40_000,
  );

  it.each(calls.map((c) => [c.name, c] as const))(
    '%s: past the daily request limit, 429 with Retry-After to the UTC midnight and the minute headers',
    async (_name, call) => {
      sys.sim.configure({ echo: false, completionTokens: 5, latencyMs: 0, chunkDelayMs: 0 });
      await earlyInMinute();
      const { key } = await userWithKey(`parity-limit-${call.name}`, 1, { rpm: 100, tpm: 1_000_000 });
      const first = await send(key, call, `first ${randomBytes(6).toString('hex')}`);
      expect(first.status).toBe(call.queued === true ? 202 : 200);
      await first.text();
      const before = Date.now();
      const res = await send(key, call, `second ${randomBytes(6).toString('hex')}`);
      const after = Date.now();
      const body = (await res.json()) as { error: { code: string; type: string } };
      expect(res.status).toBe(429);
      expect(body.error.code).toBe('quota_exceeded');
      const retryAfter = Number(res.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(Math.floor((periodsAt(after).dayEndsAt - after) / 1000));
      expect(retryAfter).toBeLessThanOrEqual(Math.ceil((periodsAt(before).dayEndsAt - before) / 1000) + 1);
      expect(res.headers.get('x-ratelimit-limit-requests')).toBe('100');
      // The refused request charged nothing: the first one alone is in the minute.
      expect(res.headers.get('x-ratelimit-remaining-requests')).toBe('99');
      expect(res.headers.get('x-ratelimit-limit-tokens')).toBe('1000000');
    },
    40_000,
  );
  it.each(calls.map((c) => [c.name, c] as const))(
    "%s: past the key's requests per minute, 429 with Retry-After to the minute's end and nothing remaining",
    async (name, call) => {
      sys.sim.configure({ echo: false, completionTokens: 5, latencyMs: 0, chunkDelayMs: 0, reportUsage: true });
      await earlyInMinute();
      const { key } = await userWithKey(`parity-rpm-${name}`, 1000, { rpm: 1, tpm: 1_000_000 });
      const first = await send(key, call, `first ${randomBytes(6).toString('hex')}`);
      expect(first.status).toBe(call.queued === true ? 202 : 200);
      expect(first.headers.get('x-ratelimit-remaining-requests')).toBe('0');
      await first.text();
      const before = Date.now();
      const res = await send(key, call, `second ${randomBytes(6).toString('hex')}`);
      const body = (await res.json()) as { error: { code: string; type: string; message: string } };
      expect(res.status).toBe(429);
      expect(body.error).toMatchObject({ code: 'rate_limit_exceeded' });
      const toMinuteEnd = periodsAt(before).windowEndsAt - before;
      const retryAfter = Number(res.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(Math.ceil(toMinuteEnd / 1000));
      expect(res.headers.get('x-ratelimit-limit-requests')).toBe('1');
      expect(res.headers.get('x-ratelimit-remaining-requests')).toBe('0');
      expect(res.headers.get('x-ratelimit-reset-requests')).toMatch(/^(\d+ms|\d+s|1m0s)$/);
      expect(res.headers.get('x-should-retry')).not.toBe('false');
    },
    40_000,
  );

  it('many concurrent requests of every endpoint racing a nearly spent budget: never past it, every reservation settled', async () => {
    sys.sim.configure({ echo: false, completionTokens: 20, latencyMs: 50, chunkDelayMs: 10, reportUsage: true });
    const [user] = await sys.query<{ id: string }>('INSERT INTO users (name) VALUES ($1) RETURNING id', [
      'parity-race',
    ]);
    const plain = `sk-aigw-${randomBytes(24).toString('base64url')}`;
    await sys.query('INSERT INTO api_keys (user_id, role, key_hash, prefix) VALUES ($1, $2, $3, $4)', [
      user.id,
      'user',
      createHash('sha256').update(plain).digest('hex'),
      plain.slice(0, 16),
    ]);
    // Room for a few worst cases only (sim-claude's 50 completion tokens reserve $0.00075, sim-gpt's $0.0001).
    const budget = 0.003;
    await sys.query(`INSERT INTO user_quotas (user_id, tier, daily_spend_limit_usd) VALUES ($1, 'default', $2)`, [
      user.id,
      budget,
    ]);
    const runs = Array.from({ length: 40 }, async (_, i) => {
      const res = await send(plain, calls[i % calls.length], `race ${i} ${randomBytes(6).toString('hex')}`);
      await res.text();
      return res.status;
    });
    const statuses = await Promise.all(runs);
    expect(statuses.filter((s) => s !== 200 && s !== 202 && s !== 429)).toEqual([]);
    const admitted = statuses.filter((s) => s !== 429).length;
    expect(admitted).toBeGreaterThan(0);
    expect(admitted).toBeLessThan(40);
    const [row] = await waitFor(
      async () => {
        const r = await sys.query<{ n: string; spent: string }>(
          'SELECT count(*) AS n, coalesce(sum(cost_usd), 0) AS spent FROM usage_records WHERE user_id = $1',
          [user.id],
        );
        return Number(r[0].n) === admitted ? r : null;
      },
      { timeoutMs: 20_000, message: 'usage rows did not arrive' },
    );
    expect(Number(row.spent)).toBeLessThanOrEqual(budget);
    const counters = new QuotaCountersStore(redis, new GovernanceKeys(sys.prefix));
    await waitFor(
      async () => {
        const c = await counters.read(user.id, Date.now());
        return Math.abs(c.dailySpendUsd - Number(row.spent)) < 1e-12 ? c : null;
      },
      { timeoutMs: 10_000, message: `spend not settled to ${row.spent}` },
    );
  }, 60_000);

  it('a key revoked while its stream runs: the stream ends whole, is billed once and settled; the key is refused next', async () => {
    sys.sim.configure({ echo: false, completionTokens: 30, latencyMs: 0, chunkDelayMs: 40 });
    const { userId, keyId, key } = await userWithKey('parity-revoked-stream', 1000, { rpm: 1000, tpm: 1_000_000 });
    const call = calls.find((c) => c.name === 'chat stream')!;
    const res = await send(key, call, `revoked ${randomBytes(6).toString('hex')}`);
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(first.done).toBe(false);
    const revoked = await fetch(`${sys.gatewayUrl}/api/v1/ai/admin/keys/${keyId}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${sys.adminKey}` },
    });
    expect(revoked.status).toBe(200);
    let text = Buffer.from(first.value).toString();
    for (;;) {
      const next = await reader.read();
      if (next.done) {
        break;
      }
      text += Buffer.from(next.value).toString();
    }
    expect(text).toContain('data: [DONE]');
    expect(text).toContain('"finish_reason":"stop"');
    const [row] = await waitFor(
      async () => {
        const r = await sys.query<{ n: string; spent: string }>(
          'SELECT count(*) AS n, coalesce(sum(cost_usd), 0) AS spent FROM usage_records WHERE user_id = $1',
          [userId],
        );
        return Number(r[0].n) === 1 ? r : null;
      },
      { timeoutMs: 15_000, message: 'usage row did not arrive' },
    );
    const counters = new QuotaCountersStore(redis, new GovernanceKeys(sys.prefix));
    await waitFor(
      async () => {
        const c = await counters.read(userId, Date.now());
        return Math.abs(c.dailySpendUsd - Number(row.spent)) < 1e-12 ? c : null;
      },
      { timeoutMs: 10_000, message: `spend not settled to ${row.spent}` },
    );
    const after = await send(key, call, 'after the revocation');
    expect(after.status).toBe(401);
    await after.text();
  }, 40_000);
  it('a response-cache hit counts a request and its rate, costs nothing and gives its reservation back', async () => {
    sys.sim.configure({ echo: false, completionTokens: 20, latencyMs: 0, chunkDelayMs: 0 });
    await earlyInMinute();
    const { userId, keyId, key } = await userWithKey('parity-cache-hit', 1000, { rpm: 1000, tpm: 1_000_000 });
    const call = calls.find((c) => c.name === 'chat')!;
    const tag = `cached ${randomBytes(6).toString('hex')}`;
    const windowAt = Date.now();
    const miss = await send(key, call, tag);
    expect(miss.headers.get('x-gateway-cache')).toBe('miss');
    await miss.text();
    const hit = await send(key, call, tag);
    expect(hit.status).toBe(200);
    expect(hit.headers.get('x-gateway-cache')).toBe('hit');
    expect(hit.headers.get('x-ratelimit-remaining-requests')).toBe('998');
    await hit.text();
    const rows = await waitFor(
      async () => {
        const r = await sys.query<{ cost: string; tokens: string; cached: boolean }>(
          `SELECT cost_usd AS cost, prompt_tokens + completion_tokens AS tokens, cached
             FROM usage_records WHERE user_id = $1 ORDER BY id`,
          [userId],
        );
        return r.length === 2 ? r : null;
      },
      { timeoutMs: 15_000, message: 'usage rows did not arrive' },
    );
    expect(rows.map((r) => [Number(r.cost) > 0, r.cached])).toEqual([
      [true, false],
      [false, true],
    ]);
    const counters = new QuotaCountersStore(redis, new GovernanceKeys(sys.prefix));
    await waitFor(
      async () => {
        const c = await counters.read(userId, Date.now());
        return Math.abs(c.dailySpendUsd - Number(rows[0].cost)) < 1e-12 ? c : null;
      },
      { timeoutMs: 10_000, message: `spend not settled to ${rows[0].cost}` },
    );
    expect((await counters.read(userId, Date.now())).dailyRequests).toBe(2);
    const keys = new GovernanceKeys(sys.prefix);
    expect(Number(await redis.get(keys.keyRequests(keyId, periodsAt(windowAt))))).toBe(2);
    // Its tokens were no provider's: the minute counts the miss's alone.
    expect(Number(await redis.get(keys.keyTokens(keyId, periodsAt(windowAt))))).toBe(Number(rows[0].tokens));
  }, 40_000);
});
