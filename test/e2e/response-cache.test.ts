import { createHash, randomBytes } from 'node:crypto';
import { GovernanceKeys, QuotaCountersStore } from '@aigw/governance';
import { PrivateRedis, uniqueId, waitFor } from '@aigw/testing';
import { Redis } from 'ioredis';
import { REDIS_URL, TestSystem } from './harness';

/**
 * The response cache through the whole system (ADR 0005), with the cache in a Redis of its own (CACHE_REDIS_URL):
 * a hit answers without a job or a provider call (counted at the simulator), for chat, native and streamed
 * requests; no-cache / no-store / useCache; TTL; the usage row of a hit; async jobs fill; the cache's Redis gone
 * means `bypass`, never a failed request.
 */
const TTL_S = 3;

describe('response cache (e2e)', () => {
  const cacheRedis = new PrivateRedis();
  let system: TestSystem;

  beforeAll(async () => {
    await cacheRedis.start();
    system = new TestSystem({
      workers: 1,
      env: { CACHE_ENABLED: 'true', CACHE_TTL_S: String(TTL_S), CACHE_REDIS_URL: cacheRedis.url },
    });
    await system.start();
  }, 90_000);

  afterAll(async () => {
    await system?.stop();
    await cacheRedis.stop();
  }, 30_000);

  const providerCalls = (): number => system.sims.reduce((n, s) => n + s.stats().total, 0);

  function chat(prompt: string, headers: Record<string, string> = {}, stream = false): Promise<Response> {
    return fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...system.headers(), ...headers },
      body: JSON.stringify({ model: 'sim-gpt', messages: [{ role: 'user', content: prompt }], stream }),
    });
  }

  function native(body: Record<string, unknown>, path = 'generate'): Promise<Response> {
    return fetch(`${system.gatewayUrl}/api/v1/ai/${path}`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({ model: 'sim-gpt', ...body }),
    });
  }

  /** An answer from the cache (`hit`) or not (`miss`), by `provider`. */
  async function expectServed(res: Response, cache: 'hit' | 'miss', provider: string): Promise<void> {
    expect(res.headers.get('x-gateway-cache')).toBe(cache);
    expect(res.headers.get('x-gateway-provider')).toBe(provider);
    await chatText(res);
  }

  /** A user with a key of its own, unrestricted unless `allowedModels` says otherwise. */
  async function userWithKey(
    name: string,
    allowedModels: string[] | null = null,
  ): Promise<{ user: { id: string }; key: string }> {
    const [user] = await system.query<{ id: string }>('INSERT INTO users (name) VALUES ($1) RETURNING id', [name]);
    const key = `sk-aigw-${randomBytes(24).toString('base64url')}`;
    await system.query(
      'INSERT INTO api_keys (user_id, role, key_hash, prefix, allowed_models) VALUES ($1, $2, $3, $4, $5)',
      [user.id, 'user', createHash('sha256').update(key).digest('hex'), key.slice(0, 16), allowedModels],
    );
    return { user, key };
  }

  /** A chat request for `model`, by the admin key unless `headers` name another. */
  function chatAs(model: string, content: string, headers: Record<string, string> = {}): Promise<Response> {
    return fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...system.headers(), ...headers },
      body: JSON.stringify({ model, messages: [{ role: 'user', content }] }),
    });
  }

  async function chatText(res: Response): Promise<string> {
    expect(res.status).toBe(200);
    const body = (await res.json()) as { choices: { message: { content: string } }[] };
    return body.choices[0].message.content;
  }

  it('chat: a miss fills, the identical request is a hit without a provider call', async () => {
    const prompt = `cache me ${uniqueId()}`;
    const first = await chat(prompt);
    expect(first.headers.get('x-gateway-cache')).toBe('miss');
    type Completion = { id: string; choices: { message: { content: string } }[] };
    const missed = (await first.json()) as Completion;
    const calls = providerCalls();

    const second = await chat(prompt);
    expect(second.headers.get('x-gateway-cache')).toBe('hit');
    expect(second.headers.get('x-gateway-cost-usd')).toBe('0');
    const hit = (await second.json()) as Completion;
    expect(hit.choices[0].message.content).toBe(missed.choices[0].message.content);
    // Another completion: its own id (tools keying on it must not merge the two), the request's.
    expect(hit.id).not.toBe(missed.id);
    expect(hit.id).toBe(`chatcmpl-${second.headers.get('x-request-id')}`);
    expect(providerCalls()).toBe(calls);
  });

  it('a hit is a cached usage row with zero cost', async () => {
    const prompt = `usage ${uniqueId()}`;
    const miss = await chat(prompt);
    const missCost = Number(miss.headers.get('x-gateway-cost-usd'));
    expect(missCost).toBeGreaterThan(0);
    await chatText(miss);
    const hit = await chat(prompt);
    expect(hit.headers.get('x-gateway-cache')).toBe('hit');
    const requestId = hit.headers.get('x-request-id');
    const rows = await waitFor(async () => {
      const found = await system.query<{
        cached: boolean;
        cost_usd: string;
        cost_saved_usd: string;
        status: string;
        attempts: number;
      }>('SELECT cached, cost_usd, cost_saved_usd, status, attempts FROM usage_records WHERE request_id = $1', [
        requestId,
      ]);
      return found.length > 0 ? found : null;
    });
    expect(rows[0]).toMatchObject({ cached: true, status: 'success', attempts: 0 });
    expect(Number(rows[0].cost_usd)).toBe(0);
    expect(Number(rows[0].cost_saved_usd)).toBeCloseTo(missCost, 9);
  });

  it('a hit counts against request limits but not spend: its reservation is refunded', async () => {
    const { user, key } = await userWithKey('cache-budget');
    await system.query(
      `INSERT INTO user_quotas (user_id, tier, daily_spend_limit_usd, daily_request_limit) VALUES ($1, 'default', 1, 100)`,
      [user.id],
    );
    const prompt = `budget ${uniqueId()}`;
    const auth = { authorization: `Bearer ${key}` };
    const miss = await chat(prompt, auth);
    expect(miss.headers.get('x-gateway-cache')).toBe('miss');
    const missCost = Number(miss.headers.get('x-gateway-cost-usd'));
    expect(missCost).toBeGreaterThan(0);
    await chatText(miss);
    const hit = await chat(prompt, auth);
    expect(hit.headers.get('x-gateway-cache')).toBe('hit');
    await chatText(hit);

    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    try {
      const counters = new QuotaCountersStore(redis, new GovernanceKeys(system.prefix));
      const settled = await waitFor(async () => {
        const c = await counters.read(user.id, Date.now());
        return Math.abs(c.dailySpendUsd - missCost) <= 2e-6 ? c : null;
      });
      expect(settled.dailyRequests).toBe(2);
    } finally {
      await redis.quit();
    }
  });

  it("a key's allow-list: never served an answer from a deployment it may not use, nor does it spoil the shared entry", async () => {
    const { key } = await userWithKey('cache-acl', ['sim0-anthropic/*']);
    const restricted = { authorization: `Bearer ${key}` };
    const ask = (headers: Record<string, string> = {}): Promise<Response> => chatAs('cheapest', prompt, headers);
    const prompt = `acl ${uniqueId()}`;

    // The admin key's `cheapest` is sim0/sim-gpt, and fills the shared entry.
    const open = await ask();
    await expectServed(open, 'miss', 'sim0');

    // The restricted key's `cheapest` reaches only sim0-anthropic: its own entry, never the shared one.
    const first = await ask(restricted);
    await expectServed(first, 'miss', 'sim0-anthropic');
    const again = await ask(restricted);
    await expectServed(again, 'hit', 'sim0-anthropic');

    const openAgain = await ask();
    await expectServed(openAgain, 'hit', 'sim0');
  });

  it("a user's saved preference: auto is answered by the preferred deployment, not from everyone's entry", async () => {
    const { user, key } = await userWithKey('cache-pref');
    await system.query(
      `INSERT INTO user_preferences (user_id, context, provider, model) VALUES ($1, '', 'sim0-anthropic', 'sim-claude')`,
      [user.id],
    );
    const ask = (headers: Record<string, string> = {}): Promise<Response> => chatAs('auto', prompt, headers);
    const prompt = `pref ${uniqueId()}`;
    // The admin key has no preference: its `auto` goes to the cheapest, sim0, and fills the shared entry.
    const open = await ask();
    expect(open.headers.get('x-gateway-provider')).toBe('sim0');
    await chatText(open);
    const mine = { authorization: `Bearer ${key}` };
    const first = await ask(mine);
    await expectServed(first, 'miss', 'sim0-anthropic');
    const again = await ask(mine);
    await expectServed(again, 'hit', 'sim0-anthropic');
  });

  it("a disabled provider's stored answers are no longer served", async () => {
    const prompt = `disabled ${uniqueId()}`;
    const ask = (content = prompt): Promise<Response> => chatAs('cheapest', content);
    const setEnabled = async (enabled: boolean): Promise<void> => {
      const res = await fetch(`${system.gatewayUrl}/api/v1/ai/admin/providers/sim0`, {
        method: 'PATCH',
        headers: system.headers(),
        body: JSON.stringify({ enabled }),
      });
      expect(res.status).toBe(200);
    };
    const first = await ask();
    expect(first.headers.get('x-gateway-provider')).toBe('sim0');
    await chatText(first);
    await setEnabled(false);
    try {
      // The gateway and the worker each learn of the change (provider.changed): until a fresh question avoids sim0.
      await waitFor(
        async () => {
          const probe = await ask(`probe ${uniqueId()}`);
          await probe.text();
          return probe.headers.get('x-gateway-provider') === 'sim0-anthropic';
        },
        { timeoutMs: 10_000, message: 'the disabled provider was still routed to' },
      );
      const after = await ask();
      await expectServed(after, 'miss', 'sim0-anthropic');
    } finally {
      await setEnabled(true);
      // The next tests ask sim0: until the gateway and the worker both know it is back, it answers 404.
      await waitFor(
        async () => {
          const probe = await chatAs('sim0/sim-gpt', `probe ${uniqueId()}`);
          await probe.text();
          return probe.status === 200;
        },
        { timeoutMs: 10_000, message: 'the provider enabled again was not served' },
      );
    }
  });

  it('an Idempotency-Key binds its body on a hit too: another body under the key is a 409, cached or not', async () => {
    const cachedPrompt = `idem cached ${uniqueId()}`;
    await chatText(await chat(cachedPrompt));
    const key = (k: string) => ({ 'idempotency-key': k });

    // Used first with a body that runs a job, then with a cached body.
    const k1 = `k1-${uniqueId()}`;
    await chatText(await chat(`idem job ${uniqueId()}`, key(k1)));
    const conflict = await chat(cachedPrompt, key(k1));
    expect(conflict.status).toBe(409);
    expect(((await conflict.json()) as { error: { code: string } }).error.code).toBe('idempotency_key_reused');

    // Used first on a hit, then with a body that would run a job; the same cached body replays.
    const k2 = `k2-${uniqueId()}`;
    const hit = await chat(cachedPrompt, key(k2));
    expect(hit.headers.get('x-gateway-cache')).toBe('hit');
    await chatText(hit);
    const calls = providerCalls();
    const other = await chat(`idem other ${uniqueId()}`, key(k2));
    expect(other.status).toBe(409);
    await other.json();
    expect(providerCalls()).toBe(calls);
    const replay = await chat(cachedPrompt, key(k2));
    expect(replay.headers.get('x-gateway-cache')).toBe('hit');
    await chatText(replay);
  });

  it('stream: a hit is replayed as SSE in the same chunk format, and a streamed answer fills too', async () => {
    const prompt = `stream ${uniqueId()}`;
    const miss = await chat(prompt, {}, true);
    expect(miss.headers.get('x-gateway-cache')).toBe('miss');
    const missSse = await miss.text();
    expect(missSse).toContain('data: [DONE]');
    const calls = providerCalls();

    const hit = await chat(prompt, {}, true);
    expect(hit.status).toBe(200);
    expect(hit.headers.get('content-type')).toContain('text/event-stream');
    expect(hit.headers.get('x-gateway-cache')).toBe('hit');
    const sse = await hit.text();
    expect(sse).toContain('"object":"chat.completion.chunk"');
    expect(sse).toContain('data: [DONE]');
    const text = contentOf(sse);
    expect(text).toBe(contentOf(missSse));
    expect(await chatText(await chat(prompt))).toBe(text);
    expect(providerCalls()).toBe(calls);
  });

  it('Anthropic messages: a hit answers whole and streamed (Anthropic events), without a provider call', async () => {
    const messages = (stream: boolean, headers: Record<string, string> = {}): Promise<Response> =>
      fetch(`${system.gatewayUrl}/v1/messages`, {
        method: 'POST',
        headers: { ...system.headers(), ...headers },
        body: JSON.stringify({
          model: 'sim-claude',
          max_tokens: 64,
          stream,
          messages: [{ role: 'user', content: `anthropic ${prompt}` }],
        }),
      });
    const prompt = uniqueId();
    const miss = await messages(false);
    expect(miss.status).toBe(200);
    expect(miss.headers.get('x-gateway-cache')).toBe('miss');
    const missBody = (await miss.json()) as { content: { text: string }[] };
    const calls = providerCalls();

    const hit = await messages(false);
    expect(hit.headers.get('x-gateway-cache')).toBe('hit');
    expect(((await hit.json()) as { content: { text: string }[] }).content).toEqual(missBody.content);

    const streamed = await messages(true);
    expect(streamed.headers.get('x-gateway-cache')).toBe('hit');
    const sse = await streamed.text();
    expect(sse).toContain('event: message_start');
    expect(sse).toContain('event: message_stop');
    expect(sse).toContain(JSON.stringify(missBody.content[0].text).slice(1, -1));
    expect(providerCalls()).toBe(calls);

    const noStore = await messages(true, { 'cache-control': 'no-store' });
    expect(noStore.headers.get('x-gateway-cache')).toBe('bypass');
    expect(await noStore.text()).toContain('event: message_stop');
    expect(providerCalls()).toBe(calls + 1);
  });

  it("Anthropic messages with thinking: a hit gives back Claude's signed blocks, whole and streamed", async () => {
    const prompt = uniqueId();
    const messages = (stream: boolean): Promise<Response> =>
      fetch(`${system.gatewayUrl}/v1/messages`, {
        method: 'POST',
        headers: system.headers(),
        body: JSON.stringify({
          model: 'sim-claude',
          max_tokens: 2048,
          thinking: { type: 'enabled', budget_tokens: 1024 },
          stream,
          messages: [{ role: 'user', content: `think ${prompt}` }],
        }),
      });
    const miss = await messages(true);
    expect(miss.headers.get('x-gateway-cache')).toBe('miss');
    const missSse = await miss.text();
    const calls = providerCalls();
    const hit = await messages(false);
    expect(hit.headers.get('x-gateway-cache')).toBe('hit');
    const content = ((await hit.json()) as { content: { type: string; signature?: string }[] }).content;
    expect(content[0]).toEqual({
      type: 'thinking',
      thinking: `Thinking about: think ${prompt}`,
      signature: expect.stringMatching(/^sim-sig-/),
    });
    // The streamed miss carried the same signature; a streamed hit replays it as a signature_delta.
    const signatureDelta = JSON.stringify({ type: 'signature_delta', signature: content[0].signature });
    expect(missSse).toContain(signatureDelta);
    const streamedHit = await messages(true);
    expect(streamedHit.headers.get('x-gateway-cache')).toBe('hit');
    expect(await streamedHit.text()).toContain(signatureDelta);
    expect(providerCalls()).toBe(calls);
  });

  it('native: cached: true on a hit; useCache: false neither reads nor stores', async () => {
    const prompt = `native ${uniqueId()}`;
    const bypass = await native({ prompt, useCache: false });
    expect(bypass.status).toBe(200);
    expect(bypass.headers.get('x-gateway-cache')).toBe('bypass');
    expect(((await bypass.json()) as { cached: boolean }).cached).toBe(false);

    const miss = await native({ prompt });
    expect(miss.headers.get('x-gateway-cache')).toBe('miss');
    const missBody = (await miss.json()) as { cached: boolean; text: string };
    expect(missBody.cached).toBe(false);

    const hit = await native({ prompt });
    expect(hit.headers.get('x-gateway-cache')).toBe('hit');
    const hitBody = (await hit.json()) as { cached: boolean; text: string; costUsd: number };
    expect(hitBody).toMatchObject({ cached: true, text: missBody.text, costUsd: 0 });
  });

  it('no-store is neither read nor stored; no-cache (Cache-Control) calls the provider and stores', async () => {
    const prompt = `directives ${uniqueId()}`;
    const noStore = await chat(prompt, { 'x-gateway-cache': 'no-store' });
    expect(noStore.headers.get('x-gateway-cache')).toBe('bypass');
    await chatText(noStore);
    const miss = await chat(prompt);
    expect(miss.headers.get('x-gateway-cache')).toBe('miss');
    await chatText(miss);

    const calls = providerCalls();
    const noCache = await chat(prompt, { 'cache-control': 'no-cache' });
    expect(noCache.headers.get('x-gateway-cache')).toBe('bypass');
    await chatText(noCache);
    expect(providerCalls()).toBe(calls + 1);
    expect((await chat(prompt)).headers.get('x-gateway-cache')).toBe('hit');

    const other = `directives ${uniqueId()}`;
    await chatText(await chat(other, { 'cache-control': 'no-store' }));
    expect((await chat(other)).headers.get('x-gateway-cache')).toBe('miss');
  });

  it('async jobs fill the cache', async () => {
    const prompt = `async ${uniqueId()}`;
    const accepted = await native({ prompt }, 'jobs');
    expect(accepted.status).toBe(202);
    const { jobId } = (await accepted.json()) as { jobId: string };
    await waitFor(async () => {
      const res = await fetch(`${system.gatewayUrl}/api/v1/ai/jobs/${jobId}`, { headers: system.headers() });
      return ((await res.json()) as { status: string }).status === 'completed';
    });
    const hit = await native({ prompt });
    expect(hit.headers.get('x-gateway-cache')).toBe('hit');
  });

  it('an entry expires after CACHE_TTL_S', async () => {
    const prompt = `ttl ${uniqueId()}`;
    await chatText(await chat(prompt));
    expect((await chat(prompt)).headers.get('x-gateway-cache')).toBe('hit');
    await new Promise((r) => setTimeout(r, TTL_S * 1000 + 500));
    expect((await chat(prompt)).headers.get('x-gateway-cache')).toBe('miss');
  }, 15_000);

  it("the cache's Redis unreachable: every request is answered, as a bypass", async () => {
    const prompt = `outage ${uniqueId()}`;
    await chatText(await chat(prompt));
    await cacheRedis.kill();
    const res = await chat(prompt);
    expect(res.headers.get('x-gateway-cache')).toBe('bypass');
    expect(await chatText(res)).not.toBe('');
    const streamed = await chat(prompt, {}, true);
    expect(streamed.headers.get('x-gateway-cache')).toBe('bypass');
    expect(await streamed.text()).toContain('data: [DONE]');
    const nat = await native({ prompt });
    expect(nat.status).toBe(200);
    expect(nat.headers.get('x-gateway-cache')).toBe('bypass');
  }, 20_000);
});

/** The text of an OpenAI chat-completion SSE body. */
function contentOf(sse: string): string {
  return sse
    .split('\n')
    .filter((l) => l.startsWith('data: {'))
    .map((l) => (JSON.parse(l.slice(6)) as { choices: { delta?: { content?: string } }[] }).choices[0]?.delta?.content)
    .filter((c): c is string => typeof c === 'string')
    .join('');
}
