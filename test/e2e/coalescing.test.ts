import { createHash, randomBytes } from 'node:crypto';
import { uniqueId, waitFor } from '@aigw/testing';
import { Redis } from 'ioredis';
import { REDIS_URL, TestSystem } from './harness';

/**
 * Request coalescing through the whole system (ADR 0007), with two gateway processes: identical requests in flight
 * together share one provider call (counted at the simulator), whole and streamed, wherever they arrive; a follower
 * leaving does not cancel the call, nor does the leader leaving while a follower waits; the last one leaving does.
 */
describe('request coalescing (e2e)', () => {
  const system = new TestSystem({ workers: 1, env: { CACHE_ENABLED: 'true', CACHE_TTL_S: '60' } });
  let gateways: string[] = [];

  beforeAll(async () => {
    await system.start();
    // In the single topology a second all-in-one instance: its worker takes jobs too.
    const second = await system.addReplica('api-gateway');
    gateways = [system.gatewayUrl, `http://127.0.0.1:${second.port}`];
  }, 90_000);

  const redis = new Redis(REDIS_URL);

  afterAll(async () => {
    await system.stop();
    await redis.quit();
  }, 30_000);

  /** The request now at the provider: it has led its call (the leader joins before its job is queued). */
  const leading = (): Promise<boolean> =>
    waitFor(() => system.sim.stats().inFlight === 1, {
      timeoutMs: 5_000,
      intervalMs: 20,
      message: 'the leader never reached the provider',
    });

  /** `n` requests wait for one provider call: its in-flight marker's count (ADR 0007), so a follower has joined. */
  const waiting = (n: number): Promise<boolean> =>
    waitFor(
      async () => {
        const markers = await redis.keys(`*${system.prefix}*:inflight:*`);
        const counts = await Promise.all(markers.map((m) => redis.hget(m, 'n')));
        return counts.some((c) => Number(c) === n);
      },
      { timeoutMs: 5_000, intervalMs: 20, message: `never ${n} waiting for one call` },
    );

  beforeEach(() => {
    system.sim.configure({ latencyMs: 0, chunkDelayMs: 0 });
  });

  function chat(gateway: string, prompt: string, stream = false, signal?: AbortSignal): Promise<Response> {
    return fetch(`${gateway}/v1/chat/completions`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({ model: 'sim-gpt', messages: [{ role: 'user', content: prompt }], stream }),
      signal,
    });
  }

  async function textOf(res: Response): Promise<string> {
    expect(res.status).toBe(200);
    const body = (await res.json()) as { choices: { message: { content: string } }[] };
    return body.choices[0].message.content;
  }

  const calls = (): number => system.sim.stats().total;

  it('ten identical concurrent requests across two gateways: one provider call, ten identical answers', async () => {
    system.sim.configure({ latencyMs: 1_000 });
    const prompt = `coalesce ${uniqueId()}`;
    const before = calls();
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => chat(gateways[i % 2], prompt)));
    const texts = await Promise.all(answers.map(textOf));
    expect(texts).toEqual(Array.from({ length: 10 }, () => prompt));
    expect(calls()).toBe(before + 1);

    const followers = answers.filter((r) => r.headers.get('x-gateway-coalesced') === 'true');
    expect(followers).toHaveLength(9);
    for (const res of answers) {
      expect(res.headers.get('x-gateway-cache')).toBe('miss');
    }
    for (const res of followers) {
      expect(res.headers.get('x-gateway-cost-usd')).toBe('0');
    }
    // Each answer is the request's own.
    expect(new Set(answers.map((r) => r.headers.get('x-request-id'))).size).toBe(10);

    // A follower's usage row is like a cache hit's: no provider cost, the leader's cost saved.
    const leader = answers.find((r) => r.headers.get('x-gateway-coalesced') === null);
    const leaderCost = Number(leader?.headers.get('x-gateway-cost-usd'));
    expect(leaderCost).toBeGreaterThan(0);
    const rows = await waitFor(async () => {
      const found = await system.query<{ cached: boolean; cost_usd: string; cost_saved_usd: string }>(
        'SELECT cached, cost_usd, cost_saved_usd FROM usage_records WHERE request_id = ANY($1)',
        [answers.map((r) => r.headers.get('x-request-id'))],
      );
      return found.length === 10 ? found : null;
    });
    const saved = rows.filter((r) => r.cached);
    expect(saved).toHaveLength(9);
    for (const row of saved) {
      expect(Number(row.cost_usd)).toBe(0);
      expect(Number(row.cost_saved_usd)).toBeCloseTo(leaderCost, 9);
    }

    // The answer was cached as usual: the next identical request is a hit.
    expect((await chat(gateways[1], prompt)).headers.get('x-gateway-cache')).toBe('hit');
  }, 30_000);

  /** `aigw_gateway_overhead_seconds` of one gateway: observations in all, and those over one second. */
  async function overheadOf(gateway: string): Promise<{ count: number; overOneSecond: number }> {
    const text = await (await fetch(`${gateway}/metrics`)).text();
    const sample = (pattern: RegExp): number => Number(pattern.exec(text)?.[1] ?? NaN);
    const count = sample(/^aigw_gateway_overhead_seconds_count (\S+)$/m);
    return { count, overOneSecond: count - sample(/^aigw_gateway_overhead_seconds_bucket\{le="1"\} (\S+)$/m) };
  }

  it("a follower's wait for the leader's provider call is not counted as gateway overhead", async () => {
    system.sim.configure({ latencyMs: 1_500 });
    const prompt = `overhead ${uniqueId()}`;
    const before = await overheadOf(gateways[0]);
    const answers = await Promise.all(Array.from({ length: 4 }, () => chat(gateways[0], prompt)));
    await Promise.all(answers.map(textOf));
    expect(answers.filter((r) => r.headers.get('x-gateway-coalesced') === 'true')).toHaveLength(3);
    const after = await overheadOf(gateways[0]);
    expect(after.count - before.count).toBe(4);
    // Every one of them spent ~1.5 s waiting for the provider: none of it is the gateway's.
    expect(after.overOneSecond - before.overOneSecond).toBe(0);
  });

  it('a key whose allow-list narrows an alias does not follow a call it may not be answered by', async () => {
    system.sim.configure({ latencyMs: 500 });
    const [user] = await system.query<{ id: string }>("INSERT INTO users (name) VALUES ('coalesce-acl') RETURNING id");
    const key = `sk-aigw-${randomBytes(24).toString('base64url')}`;
    await system.query(
      'INSERT INTO api_keys (user_id, role, key_hash, prefix, allowed_models) VALUES ($1, $2, $3, $4, $5)',
      [user.id, 'user', createHash('sha256').update(key).digest('hex'), key.slice(0, 16), ['sim0-anthropic/*']],
    );
    const prompt = `coalesce-acl ${uniqueId()}`;
    const ask = (gateway: string, headers: Record<string, string>): Promise<Response> =>
      fetch(`${gateway}/v1/chat/completions`, {
        method: 'POST',
        headers: { ...system.headers(), ...headers },
        body: JSON.stringify({ model: 'cheapest', messages: [{ role: 'user', content: prompt }] }),
      });
    const before = calls();
    const open = ask(gateways[0], {});
    await waitFor(() => calls() > before || system.sim.stats().inFlight > 0, { timeoutMs: 5_000, intervalMs: 10 });
    const narrowed = await ask(gateways[1], { authorization: `Bearer ${key}` });
    expect(narrowed.status).toBe(200);
    expect(narrowed.headers.get('x-gateway-coalesced')).toBeNull();
    expect(narrowed.headers.get('x-gateway-provider')).toBe('sim0-anthropic');
    await narrowed.json();
    const openAnswer = await open;
    expect(openAnswer.headers.get('x-gateway-provider')).toBe('sim0');
    await openAnswer.json();
  }, 30_000);

  it('streams: one provider call; every follower, even one that joins mid-stream, gets the stream from its start', async () => {
    // A stream of about 3 s, so the late followers join it well before its end.
    system.sim.configure({ latencyMs: 300, chunkDelayMs: 300 });
    const prompt = `stream coalesce ${uniqueId()} one two three four five six seven eight`;
    const before = calls();
    const logsBefore = new Set(await redis.keys(`*${system.prefix}*:inflight-log:*`));
    const early = Array.from({ length: 6 }, (_, i) => chat(gateways[i % 2], prompt, true));
    // The rest arrive once the stream is well under way: chunks already in the call's log, which they replay first.
    await waitFor(
      async () => {
        const logs = (await redis.keys(`*${system.prefix}*:inflight-log:*`)).filter((l) => !logsBefore.has(l));
        return (await Promise.all(logs.map((l) => redis.llen(l)))).some((n) => n >= 3);
      },
      { timeoutMs: 5_000, intervalMs: 20, message: 'the stream never got under way' },
    );
    const late = Array.from({ length: 4 }, (_, i) => chat(gateways[i % 2], prompt, true));
    const answers = await Promise.all([...early, ...late]);
    const bodies = await Promise.all(answers.map((r) => r.text()));
    for (const sse of bodies) {
      expect(sse).toContain('"role":"assistant"');
      expect(sse).toContain('data: [DONE]');
      expect(contentOf(sse)).toBe(prompt);
    }
    expect(calls()).toBe(before + 1);
    const followers = answers.filter((r) => r.headers.get('x-gateway-coalesced') === 'true');
    expect(followers).toHaveLength(9);
    // Each stream is the request's own, as a whole follower's answer is: its own completion id in every chunk (two
    // requests never share one), and no attempts of its own.
    const ids = bodies.map(chunkIdsOf);
    for (const [i, res] of answers.entries()) {
      expect(ids[i]).toHaveLength(1);
      if (followers.includes(res)) {
        expect(ids[i]).toEqual([`chatcmpl-${res.headers.get('x-request-id')}`]);
        expect(res.headers.get('x-gateway-attempts')).toBe('0');
      }
    }
    expect(new Set(ids.flat()).size).toBe(10);
  }, 30_000);

  it('a follower that disconnects does not cancel the leader', async () => {
    // A slow call: the follower joins and leaves while it runs.
    system.sim.configure({ latencyMs: 3_000 });
    system.sim.reset();
    const prompt = `follower leaves ${uniqueId()}`;
    const leader = chat(gateways[0], prompt);
    await leading();
    const gone = new AbortController();
    const follower = chat(gateways[1], prompt, false, gone.signal).catch((err: unknown) => err);
    await waiting(2);
    gone.abort();
    expect(await follower).toMatchObject({ name: 'AbortError' });
    expect(await textOf(await leader)).toBe(prompt);
    expect(system.sim.stats()).toMatchObject({ total: 1, cancelled: 0 });
  }, 30_000);

  it('a follower of a leader whose call failed gets its error and a usage row of its own; so does one that left', async () => {
    // The follower that leaves is the only request of its own user, so its row is found by user.
    const admin = (route: string, body: object): Promise<{ id: string; key: string }> =>
      fetch(`${system.gatewayUrl}/api/v1/ai/admin/${route}`, {
        method: 'POST',
        headers: system.headers(),
        body: JSON.stringify(body),
      }).then((r) => r.json() as Promise<{ id: string; key: string }>);
    const leaver = await admin('users', { name: `leaver-${uniqueId()}` });
    const leaverKey = (await admin('keys', { userId: leaver.id })).key;
    system.sim.configure({ latencyMs: 3_000, failStatus: [400], failNext: 1 });
    system.sim.reset();
    const prompt = `leader fails ${uniqueId()}`;
    const leader = chat(gateways[0], prompt);
    await leading();
    const follower = chat(gateways[1], prompt);
    const gone = new AbortController();
    const leaving = fetch(`${gateways[0]}/v1/chat/completions`, {
      method: 'POST',
      headers: system.headers(leaverKey),
      body: JSON.stringify({ model: 'sim-gpt', messages: [{ role: 'user', content: prompt }] }),
      signal: gone.signal,
    }).catch((err: unknown) => err);
    await waiting(3);
    gone.abort();
    expect(await leaving).toMatchObject({ name: 'AbortError' });
    const [led, followed] = await Promise.all([leader, follower]);
    expect(led.status).toBeGreaterThanOrEqual(400);
    expect(followed.status).toBe(led.status);
    expect(followed.headers.get('x-gateway-coalesced')).toBe('true');
    expect(system.sim.stats().total).toBe(1);

    const ids = [led.headers.get('x-request-id'), followed.headers.get('x-request-id')];
    type Row = { request_id: string; user_id: string; status: string; cached: boolean; error_code: string };
    const rows = await waitFor(async () => {
      const found = await system.query<Row>(
        'SELECT request_id, user_id, status, cached, error_code FROM usage_records WHERE request_id = ANY($1) OR user_id = $2',
        [ids, leaver.id],
      );
      return found.length === 3 ? found : null;
    });
    const byId = new Map(rows.map((r) => [r.request_id, r]));
    const leaderCode = ((await led.json()) as { error: { code: string } }).error.code;
    expect(byId.get(ids[0]!)).toMatchObject({ status: 'error', cached: false, error_code: leaderCode });
    // Nothing answered the followers: they are failures, never cache hits (cachedRequests).
    expect(byId.get(ids[1]!)).toMatchObject({ status: 'error', cached: false, error_code: leaderCode });
    expect(rows.find((r) => r.user_id === leaver.id)).toMatchObject({
      status: 'error',
      cached: false,
      error_code: 'client_closed_request',
    });
  }, 30_000);

  it('the leader disconnecting does not cancel the call while a follower waits', async () => {
    system.sim.configure({ latencyMs: 3_000 });
    system.sim.reset();
    const prompt = `leader leaves ${uniqueId()}`;
    const gone = new AbortController();
    const leader = chat(gateways[0], prompt, false, gone.signal).catch((err: unknown) => err);
    await leading();
    const follower = chat(gateways[1], prompt);
    await waiting(2);
    gone.abort();
    expect(await leader).toMatchObject({ name: 'AbortError' });
    const res = await follower;
    expect(res.headers.get('x-gateway-coalesced')).toBe('true');
    expect(await textOf(res)).toBe(prompt);
    expect(system.sim.stats()).toMatchObject({ total: 1, cancelled: 0 });
  }, 30_000);

  it('a streaming leader leaving mid-stream: the follower still gets the whole stream', async () => {
    system.sim.configure({ latencyMs: 200, chunkDelayMs: 150 });
    system.sim.reset();
    const prompt = `stream leader leaves ${uniqueId()} a b c d e f`;
    const gone = new AbortController();
    const leader = await chat(gateways[0], prompt, true, gone.signal);
    const follower = await chat(gateways[1], prompt, true);
    expect(follower.headers.get('x-gateway-coalesced')).toBe('true');
    // Node's fetch body is a web stream of bytes; typed `any` by @types/node, hence the annotation.
    const body = leader.body as AsyncIterable<Uint8Array>;
    for await (const chunk of body) {
      expect(new TextDecoder().decode(chunk)).toContain('data: ');
      break;
    }
    gone.abort();
    const sse = await follower.text();
    expect(contentOf(sse)).toBe(prompt);
    expect(sse).toContain('data: [DONE]');
    expect(system.sim.stats()).toMatchObject({ total: 1, cancelled: 0 });
  }, 30_000);

  it('when every waiter leaves, the provider call is cancelled', async () => {
    system.sim.configure({ latencyMs: 0, chunkDelayMs: 200 });
    system.sim.reset();
    const prompt = `all leave ${uniqueId()} a b c d e f g h i j k l m n o p`;
    const clients = [new AbortController(), new AbortController()];
    const leader = await chat(gateways[0], prompt, true, clients[0].signal);
    expect(leader.status).toBe(200);
    const follower = await chat(gateways[1], prompt, true, clients[1].signal);
    expect(follower.headers.get('x-gateway-coalesced')).toBe('true');
    clients[0].abort();
    await new Promise((r) => setTimeout(r, 200));
    expect(system.sim.stats().cancelled).toBe(0);
    clients[1].abort();
    await waitFor(() => system.sim.stats().cancelled === 1, {
      timeoutMs: 5_000,
      message: 'the provider call was not cancelled',
    });
    expect(system.sim.stats().total).toBe(1);
  }, 30_000);

  it('no-cache requests are not coalesced (they want a call of their own)', async () => {
    system.sim.configure({ latencyMs: 500 });
    const prompt = `no-cache ${uniqueId()}`;
    const before = calls();
    const answers = await Promise.all(
      [0, 1].map(() =>
        fetch(`${gateways[0]}/v1/chat/completions`, {
          method: 'POST',
          headers: { ...system.headers(), 'cache-control': 'no-cache' },
          body: JSON.stringify({ model: 'sim-gpt', messages: [{ role: 'user', content: prompt }] }),
        }),
      ),
    );
    await Promise.all(answers.map(textOf));
    expect(calls()).toBe(before + 2);
  }, 30_000);
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

/** The distinct `id`s of an OpenAI chat-completion SSE body's chunks. */
function chunkIdsOf(sse: string): string[] {
  const ids = sse
    .split('\n')
    .filter((l) => l.startsWith('data: {'))
    .map((l) => (JSON.parse(l.slice(6)) as { id: string }).id);
  return [...new Set(ids)];
}
