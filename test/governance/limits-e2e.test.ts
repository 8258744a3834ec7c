import { createHash, randomBytes } from 'node:crypto';
import { GovernanceKeys, QuotaCountersStore, periodsAt } from '@aigw/governance';
import { deleteRedisKeysOf, waitFor } from '@aigw/testing';
import { Redis } from 'ioredis';
import { REDIS_URL, TestSystem } from '../e2e/harness';

/**
 * Rate limits and spend budgets across two gateway processes on one Redis: a budget is never overspent by
 * concurrent requests, a per-key rate limit holds for the sum of both replicas within one minute, and the
 * quota counters come back from usage_records after Redis lost them.
 */
describe('limits shared by two gateway replicas', () => {
  // A small completion allowance, so the cap on budgeted requests without max_tokens shows in a few tokens.
  const sys = new TestSystem({
    workers: 2,
    env: { AUTH_CACHE_TTL_MS: '300', QUOTA_DEFAULT_MAX_TOKENS: '100' },
    catalog: (s) => `${s.catalogYaml()}  - id: sim-embedder
    kind: openai
    baseUrl: ${s.sim.url}/v1
    apiKey: sk-sim-secret-embed
    models:
      - { name: sim-embed, promptPer1k: 0.0001, completionPer1k: 0, contextWindow: 8192, capabilities: [embeddings] }
`,
  });
  let gateways: string[] = [];
  let redis: Redis;

  beforeAll(async () => {
    await sys.start();
    // Two gateway replicas: two api-gateways, or in the single topology two of the all-in-one instances.
    if (sys.gateways().length < 2) {
      await sys.addReplica('api-gateway');
    }
    gateways = sys.gateways().map((a) => `http://127.0.0.1:${a.port}`);
    redis = new Redis(REDIS_URL);
  }, 90_000);

  afterAll(async () => {
    await redis?.quit();
    await sys.stop();
  }, 60_000);

  /** A user with a key, limits set in the database before the key's first use (limits are cached with it). */
  async function userWithKey(
    name: string,
    quota: { daily_spend_limit_usd?: number; daily_request_limit?: number } = {},
    key: { rpm?: number; tpm?: number } = {},
  ): Promise<{ userId: string; key: string }> {
    const [user] = await sys.query<{ id: string }>('INSERT INTO users (name) VALUES ($1) RETURNING id', [name]);
    const plain = `sk-aigw-${randomBytes(24).toString('base64url')}`;
    await sys.query(
      'INSERT INTO api_keys (user_id, role, key_hash, prefix, rpm, tpm) VALUES ($1, $2, $3, $4, $5, $6)',
      [
        user.id,
        'user',
        createHash('sha256').update(plain).digest('hex'),
        plain.slice(0, 16),
        key.rpm ?? null,
        key.tpm ?? null,
      ],
    );
    await sys.query(
      `INSERT INTO user_quotas (user_id, tier, daily_spend_limit_usd, daily_request_limit) VALUES ($1, 'default', $2, $3)`,
      [user.id, quota.daily_spend_limit_usd ?? null, quota.daily_request_limit ?? null],
    );
    return { userId: user.id, key: plain };
  }

  /** A chat completion request `body` sent with `key` (and `headers`) to `gateway`. */
  function postChat(
    gateway: string,
    key: string,
    body: string,
    init: { headers?: Record<string, string>; signal?: AbortSignal } = {},
  ): Promise<Response> {
    return fetch(`${gateway}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...init.headers },
      body,
      signal: init.signal,
    });
  }

  async function chat(gateway: string, key: string, content: string, maxTokens: number | null = 50): Promise<Response> {
    return postChat(
      gateway,
      key,
      JSON.stringify({
        model: 'sim0/sim-gpt',
        ...(maxTokens === null ? {} : { max_tokens: maxTokens }),
        messages: [{ role: 'user', content }],
      }),
    );
  }

  async function usageOf(userId: string, n: number): Promise<{ n: string; spent: string }> {
    return waitFor(
      async () => {
        const r = await sys.query<{ n: string; spent: string }>(
          'SELECT count(*) AS n, coalesce(sum(cost_usd), 0) AS spent FROM usage_records WHERE user_id = $1',
          [userId],
        );
        return Number(r[0].n) === n ? r[0] : null;
      },
      { timeoutMs: 20_000, message: 'usage rows did not arrive' },
    );
  }

  /** Until the user's spend counter equals `spent` (both in nano-dollars): every reservation was settled. */
  async function spendSettled(userId: string, spent: number, message: string): Promise<void> {
    const counters = new QuotaCountersStore(redis, new GovernanceKeys(sys.prefix));
    await waitFor(
      async () => {
        const c = await counters.read(userId, Date.now());
        return Math.abs(c.dailySpendUsd - spent) < 1e-12 ? c : null;
      },
      { timeoutMs: 10_000, message },
    );
  }

  /** Waits, when the minute has less than 15 s left, for the next one: what a test counts in a minute, in one. */
  async function earlyInMinute(): Promise<void> {
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 45_000) {
      await new Promise((r) => setTimeout(r, 60_500 - intoMinute));
    }
  }

  /** A chat body asking about a PDF of ten pages by admission's estimate (30,000 tokens reserved for it). */
  function pdfChat({ maxTokens, stream = false }: { maxTokens: number; stream?: boolean }): string {
    const pdf = Buffer.alloc(10 * 32 * 1024, 0x41).toString('base64');
    return JSON.stringify({
      model: 'sim0/sim-gpt',
      max_tokens: maxTokens,
      stream,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Summarize.' },
            { type: 'file', file: { filename: 'a.pdf', file_data: `data:application/pdf;base64,${pdf}` } },
          ],
        },
      ],
    });
  }

  it('never lets 100 concurrent requests on two replicas spend past the budget', async () => {
    // Worst case per request: ~10 prompt tokens at $0.001/1K + 50 completion tokens at $0.002/1K ≈ $0.00011.
    const limit = 0.0011;
    const { userId, key } = await userWithKey('budget-race', { daily_spend_limit_usd: limit });
    sys.sim.configure({ latencyMs: 200, echo: true });
    const responses = await Promise.all(
      Array.from({ length: 100 }, (_, i) => chat(gateways[i % 2], key, `budget ${i}`)),
    );
    const statuses = responses.map((r) => r.status);
    const ok = statuses.filter((s) => s === 200).length;
    const refused = responses.filter((r) => r.status === 429);
    expect(ok + refused.length).toBe(100);
    expect(ok).toBeGreaterThanOrEqual(10);
    expect(refused.length).toBeGreaterThan(0);
    const body = (await refused[0].json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('quota_exceeded');
    expect(body.error.message).toContain('daily spend limit');
    expect(Number(refused[0].headers.get('retry-after'))).toBeGreaterThan(0);

    // What was really spent, once every usage row is in, stays within the budget.
    const rows = await usageOf(userId, ok);
    expect(Number(rows.spent)).toBeGreaterThan(0);
    expect(Number(rows.spent)).toBeLessThanOrEqual(limit);
    // Every reservation was settled: the counter equals the real spend.
    await spendSettled(userId, Number(rows.spent), 'reservations were not all settled');
  }, 60_000);

  it('caps a budgeted request without max_tokens at the allowance it reserved, so long answers cannot overspend', async () => {
    // Reserved per request: ~10 prompt tokens and QUOTA_DEFAULT_MAX_TOKENS (100) completion tokens ≈ $0.00021; each
    // answer would be 1,000 tokens ($0.002) uncapped, ten times the budget across the admitted ones.
    const limit = 0.0011;
    const { userId, key } = await userWithKey('budget-uncapped', { daily_spend_limit_usd: limit });
    sys.sim.configure({ latencyMs: 200, echo: false, completionTokens: 1000 });
    try {
      const responses = await Promise.all(
        Array.from({ length: 20 }, (_, i) => chat(gateways[i % 2], key, `no max_tokens ${i}`, null)),
      );
      const ok = responses.filter((r) => r.status === 200);
      expect(ok.length).toBeGreaterThan(0);
      expect(responses.filter((r) => r.status === 429).length).toBe(20 - ok.length);
      for (const body of (await Promise.all(ok.map((r) => r.json()))) as {
        choices: { finish_reason: string }[];
        usage: { completion_tokens: number };
      }[]) {
        expect(body.choices[0].finish_reason).toBe('length');
        expect(body.usage.completion_tokens).toBe(100);
      }
      const rows = await usageOf(userId, ok.length);
      expect(Number(rows.spent)).toBeLessThanOrEqual(limit);
    } finally {
      sys.sim.configure({ completionTokens: 32 });
    }
  }, 60_000);

  it('tells a request larger than a limit on its own that waiting will not help, and charges nothing', async () => {
    const { key } = await userWithKey('too-large', {}, { tpm: 1000 });
    sys.sim.configure({ latencyMs: 0, echo: true });
    const big = await chat(gateways[0], key, 'a long essay', 5000);
    expect(big.status).toBe(429);
    expect(big.headers.get('retry-after')).toBeNull();
    expect(big.headers.get('x-should-retry')).toBe('false');
    expect(big.headers.get('x-ratelimit-limit-tokens')).toBe('1000');
    expect(big.headers.get('x-ratelimit-remaining-tokens')).toBe('1000');
    const body = (await big.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('rate_limit_exceeded');
    expect(body.error.message).toMatch(/^Request too large for the tokens per minute of this key \(1000\)/);
    // Within the minute, a request that fits is admitted: nothing was charged.
    const small = await chat(gateways[1], key, 'a short one', 50);
    expect(small.status).toBe(200);
    expect(Number(small.headers.get('x-ratelimit-remaining-tokens'))).toBeGreaterThan(900);
  }, 30_000);

  it('tells an embeddings request too large for a limit to send less input, not to change a max_tokens it has none of', async () => {
    const { key } = await userWithKey('too-large-embed', { daily_spend_limit_usd: 10 }, { tpm: 20 });
    const res = await fetch(`${gateways[0]}/v1/embeddings`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'sim-embed', input: 'many words '.repeat(40) }),
    });
    expect(res.status).toBe(429);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.message).toMatch(/^Request too large for the tokens per minute of this key \(20\)/);
    expect(body.error.message).toContain('(the input estimate)');
    expect(body.error.message).toContain('Waiting will not help; send fewer or shorter inputs.');
    expect(body.error.message).not.toContain('max_tokens');
  }, 30_000);

  it('tells a budgeted request without max_tokens what it was charged, not to lower a max_tokens it never sent', async () => {
    // A spend limit caps a request without max_tokens at QUOTA_DEFAULT_MAX_TOKENS (100 here): the cap is the
    // gateway's, so the refusal must say so rather than echo it back as the client's max_tokens.
    const { key } = await userWithKey('too-large-unset', { daily_spend_limit_usd: 10 }, { tpm: 50 });
    const res = await chat(gateways[0], key, 'no max_tokens here', null);
    expect(res.status).toBe(429);
    expect(res.headers.get('x-should-retry')).toBe('false');
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('rate_limit_exceeded');
    expect(body.error.message).toMatch(/^Request too large for the tokens per minute of this key \(50\)/);
    expect(body.error.message).toContain(
      '(the prompt estimate plus 100 completion tokens reserved without max_tokens)',
    );
    expect(body.error.message).toContain('Waiting will not help; send a max_tokens below the 100 reserved without it.');
    expect(body.error.message).not.toContain('lower max_tokens');
  }, 30_000);

  it("reserves a PDF's pages against a tokens-per-minute limit, then settles the reservation to the real usage", async () => {
    const { userId, key } = await userWithKey('pdf-settled', {}, { tpm: 100_000 });
    const [{ id: keyId }] = await sys.query<{ id: string }>('SELECT id FROM api_keys WHERE user_id = $1', [userId]);
    sys.sim.configure({ latencyMs: 0, echo: true });
    // Reservation and settlement inside one minute window.
    await earlyInMinute();
    // Ten pages' worth (a page per 32 KiB, 3,000 tokens each): ~30,000 tokens reserved, which it never uses.
    const res = await postChat(gateways[0], key, pdfChat({ maxTokens: 20 }));
    expect(res.status).toBe(200);
    expect(Number(res.headers.get('x-ratelimit-remaining-tokens'))).toBeLessThanOrEqual(100_000 - 30_000 - 20);
    const { usage } = (await res.json()) as { usage: { total_tokens: number } };
    // The minute's counter comes down from the reservation to what the provider reported.
    const counter = new GovernanceKeys(sys.prefix).keyTokens(keyId, periodsAt(Date.now()));
    await waitFor(async () => Number(await redis.get(counter)) === usage.total_tokens, {
      timeoutMs: 10_000,
      message: 'the reservation was not settled to the real usage',
    });
  }, 30_000);

  /** The key's tokens this minute once the worker settled its reservation to the usage row it wrote. */
  async function settledTokens(userId: string): Promise<{ counter: number; promptTokens: number }> {
    const [{ id: keyId }] = await sys.query<{ id: string }>('SELECT id FROM api_keys WHERE user_id = $1', [userId]);
    const counter = new GovernanceKeys(sys.prefix).keyTokens(keyId, periodsAt(Date.now()));
    return waitFor(
      async () => {
        const rows = await sys.query<{ prompt_tokens: number; completion_tokens: number }>(
          'SELECT prompt_tokens, completion_tokens FROM usage_records WHERE user_id = $1',
          [userId],
        );
        if (rows.length !== 1) {
          return null;
        }
        const billed = Number(rows[0].prompt_tokens) + Number(rows[0].completion_tokens);
        const tokens = Number(await redis.get(counter));
        return tokens === billed ? { counter: tokens, promptTokens: Number(rows[0].prompt_tokens) } : null;
      },
      { timeoutMs: 15_000, message: 'the reservation was not settled to the usage recorded' },
    );
  }

  it("settles a PDF's reservation to its pages, not to its text, when the provider reports no usage", async () => {
    const { userId, key } = await userWithKey('pdf-no-usage', {}, { tpm: 100_000 });
    sys.sim.configure({ latencyMs: 0, echo: true, reportUsage: false });
    try {
      await earlyInMinute();
      const res = await postChat(gateways[0], key, pdfChat({ maxTokens: 300 }));
      expect(res.status).toBe(200);
      const { usage } = (await res.json()) as { usage: { prompt_tokens: number } };
      // The provider bills the PDF: its estimate stays charged (it was settled to the ~10 tokens of 'Summarize.').
      expect(usage.prompt_tokens).toBeGreaterThanOrEqual(30_000);
      const settled = await settledTokens(userId);
      expect(settled.promptTokens).toBe(usage.prompt_tokens);
      expect(settled.counter).toBeGreaterThanOrEqual(30_000);
    } finally {
      sys.sim.configure({ reportUsage: true });
    }
  }, 30_000);

  it("settles a PDF's reservation to its pages when its client leaves a stream before the usage came", async () => {
    const { userId, key } = await userWithKey('pdf-left-stream', {}, { tpm: 100_000 });
    // The OpenAI family reports usage in the stream's last chunk only: a stream left early has none.
    sys.sim.configure({ latencyMs: 0, echo: false, completionTokens: 200, chunkDelayMs: 40 });
    try {
      await earlyInMinute();
      const left = new AbortController();
      const res = await postChat(gateways[0], key, pdfChat({ maxTokens: 300, stream: true }), { signal: left.signal });
      expect(res.status).toBe(200);
      const reader = res.body!.getReader();
      let seen = '';
      while (!seen.includes('"content"')) {
        const { value, done } = await reader.read();
        if (done) {
          break;
        }
        seen += Buffer.from(value).toString();
      }
      expect(seen).toContain('"content"');
      left.abort();
      const settled = await settledTokens(userId);
      expect(settled.promptTokens).toBeGreaterThanOrEqual(30_000);
      expect(settled.counter).toBeGreaterThanOrEqual(30_000);
    } finally {
      sys.sim.configure({ completionTokens: 32, chunkDelayMs: 0 });
    }
  }, 30_000);

  it('a request limit of 0 says no request is allowed, not that the request is too large', async () => {
    const { key } = await userWithKey('no-requests', { daily_request_limit: 0 });
    const res = await chat(gateways[0], key, 'anything', 5);
    expect(res.status).toBe(429);
    expect(res.headers.get('x-should-retry')).toBe('false');
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('quota_exceeded');
    expect(body.error.message).toBe(
      'The daily request limit is 0: no request is allowed. Waiting will not help; an admin can raise it.',
    );
  }, 30_000);

  it('a spend limit of $0 says only a model that costs nothing is allowed, not to lower max_tokens', async () => {
    const { key } = await userWithKey('no-spend', { daily_spend_limit_usd: 0 });
    const res = await chat(gateways[0], key, 'anything', 5);
    expect(res.status).toBe(429);
    expect(res.headers.get('x-should-retry')).toBe('false');
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('quota_exceeded');
    expect(body.error.message).toBe(
      'The daily spend limit is $0: only a model that costs nothing is allowed. Waiting will not help; ask for such a model, or an admin can raise it.',
    );
  }, 30_000);

  it('holds a per-key rate limit for the sum of both replicas, with OpenAI rate-limit headers', async () => {
    const { key } = await userWithKey('rate-shared', {}, { rpm: 5 });
    sys.sim.configure({ latencyMs: 0, echo: true });
    // All inside one minute window.
    await earlyInMinute();
    const responses = await Promise.all(Array.from({ length: 12 }, (_, i) => chat(gateways[i % 2], key, `rate ${i}`)));
    const ok = responses.filter((r) => r.status === 200);
    const limited = responses.filter((r) => r.status === 429);
    expect(ok).toHaveLength(5);
    expect(limited).toHaveLength(7);
    expect(ok[0].headers.get('x-ratelimit-limit-requests')).toBe('5');
    expect(Number(ok[0].headers.get('x-ratelimit-remaining-requests'))).toBeLessThan(5);
    expect(ok[0].headers.get('x-ratelimit-reset-requests')).toMatch(/^(\d+ms|\d+s|\d+m\d+s)$/);
    expect(limited[0].headers.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(Number(limited[0].headers.get('retry-after'))).toBeGreaterThan(0);
    const body = (await limited[0].json()) as { error: { code: string } };
    expect(body.error.code).toBe('rate_limit_exceeded');
  }, 90_000);

  it('marks each admitted request by its id, so that the script sent again after a dropped connection charges nothing', async () => {
    const { key } = await userWithKey('admitted-mark', { daily_spend_limit_usd: 1 });
    sys.sim.configure({ latencyMs: 0, echo: true });
    const res = await chat(gateways[0], key, 'marked');
    expect(res.status).toBe(200);
    // No x-request-id was sent: the echoed one is the job's, the request id admission marked.
    const ttl = await redis.pttl(new GovernanceKeys(sys.prefix).admitted(String(res.headers.get('x-request-id'))));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(75_000);
  }, 30_000);

  it('rebuilds the quota counters from usage_records after Redis lost them', async () => {
    const { userId, key } = await userWithKey('rebuild', { daily_spend_limit_usd: 1, daily_request_limit: 1000 });
    // An admin reset a minute ago: its time is lost with Redis' data and comes back from user_quotas.
    const resetAt = new Date(Date.now() - 60_000);
    await sys.query('UPDATE user_quotas SET daily_reset_at = $2, monthly_reset_at = $2 WHERE user_id = $1', [
      userId,
      resetAt,
    ]);
    for (let i = 0; i < 3; i++) {
      expect((await chat(gateways[0], key, `before flush ${i}`)).status).toBe(200);
    }
    const usage = await usageOf(userId, 3);
    // What a FLUSHALL or a restart without persistence does to this deployment's counters.
    await deleteRedisKeysOf(redis, `${sys.prefix}:gov`);
    const during = await chat(gateways[1], key, 'while rebuilding');
    expect([200, 503]).toContain(during.status);
    if (during.status === 503) {
      expect(Number(during.headers.get('retry-after'))).toBeGreaterThan(0);
    }
    const counters = new QuotaCountersStore(redis, new GovernanceKeys(sys.prefix));
    const rebuilt = await waitFor(
      async () => {
        if (!(await redis.exists(new GovernanceKeys(sys.prefix).epoch))) {
          return null;
        }
        return counters.read(userId, Date.now());
      },
      { timeoutMs: 10_000, message: 'counters were not rebuilt' },
    );
    expect(rebuilt.dailyRequests).toBeGreaterThanOrEqual(3);
    expect(rebuilt.dailySpendUsd).toBeGreaterThanOrEqual(Number(usage.spent));
    expect(await redis.get(new GovernanceKeys(sys.prefix).quotaResets(userId))).toBe(String(resetAt.getTime()));
    // And admission works again.
    expect((await chat(gateways[1], key, 'after rebuild')).status).toBe(200);
  }, 60_000);

  it("settles an Idempotency-Key re-run of a failed request to its real cost, not the re-run's reservation", async () => {
    const { userId, key } = await userWithKey('rerun', { daily_spend_limit_usd: 1 });
    const send = (): Promise<Response> =>
      postChat(
        gateways[0],
        key,
        JSON.stringify({ model: 'sim0/sim-gpt', max_tokens: 50, messages: [{ role: 'user', content: 'again' }] }),
        { headers: { 'idempotency-key': 'rerun-1' } },
      );
    // Every call of the first run fails (the first try and RETRY_MAX retries): 502, its reservation refunded.
    sys.sim.configure({ latencyMs: 0, echo: true, failNext: 3, failStatus: [500] });
    try {
      const first = await send();
      expect(first.status).toBe(502);
    } finally {
      sys.sim.configure({ failNext: 0, failStatus: [503] });
    }
    // The same key runs the request again (all_providers_failed says to retry): admitted anew and answered.
    const again = await send();
    expect(again.status).toBe(200);
    const rows = await waitFor(
      async () => {
        const r = await sys.query<{ spent: string }>(
          `SELECT coalesce(sum(cost_usd), 0) AS spent FROM usage_records WHERE user_id = $1 AND status = 'success'`,
          [userId],
        );
        return Number(r[0].spent) > 0 ? r[0] : null;
      },
      { timeoutMs: 20_000, message: 'the usage row did not arrive' },
    );
    // The re-run's reservation was settled to what it cost (the first run's settlement did not stand for it).
    await spendSettled(userId, Number(rows.spent), "the re-run's reservation was not settled");
  }, 60_000);

  it('counts what a user already spent when an admin sets a limit (counters reseeded from usage_records)', async () => {
    const { userId, key } = await userWithKey('late-limit');
    for (let i = 0; i < 3; i++) {
      expect((await chat(gateways[0], key, `unlimited ${i}`)).status).toBe(200);
    }
    await usageOf(userId, 3);
    const put = await fetch(`${gateways[1]}/api/v1/ai/admin/quotas/${userId}`, {
      method: 'PUT',
      headers: sys.headers(),
      body: JSON.stringify({ dailyRequestLimit: 4 }),
    });
    expect(put.status).toBe(200);
    // The key's cached limits expire (AUTH_CACHE_TTL_MS 300 ms); three requests already count against the four.
    await new Promise((r) => setTimeout(r, 400));
    expect((await chat(gateways[0], key, 'fourth')).status).toBe(200);
    const fifth = await chat(gateways[1], key, 'fifth');
    expect(fifth.status).toBe(429);
    expect(((await fifth.json()) as { error: { code: string } }).error.code).toBe('quota_exceeded');
  }, 60_000);
});
