import { createHash, randomBytes } from 'node:crypto';
import { PrivateRedis, parseSse, waitFor } from '@aigw/testing';
import { Redis } from 'ioredis';
import { TestSystem } from '../e2e/harness';

/**
 * Redis restarted EMPTY (no persistence: a crashed node without AOF, a failover to a replica that had not synced)
 * while sync, streaming and async generations are at the provider. The queue, the jobs, the reservations and the
 * script cache are gone. What must still hold: every waiting caller gets an answer or an error envelope (an SSE
 * stream ends with `[DONE]` or an error event) before its deadline, never a hang; the workers go back to consuming
 * (queues and scripts recreated) so that new generations succeed; an async job is never shown queued or running
 * forever; no generation is billed twice.
 */
const PROVIDER_MS = 1_500;
const DEADLINE_MS = 20_000;

interface Outcome {
  prompt: string;
  status: number;
  ms: number;
  /** The answer's text, or the error envelope's code. */
  text?: string;
  code?: string;
  /** For a stream: its last data line. */
  last?: string;
  /** x-gateway-cache */
  cache?: string | null;
}

/**
 * `at the provider`: every job runs when Redis dies (their answers reach the gateways through the reconnected
 * subscriber). `queued`: one worker slot, so most jobs wait in the queue and are lost with it: a sync caller gets the
 * lost job's 503 (the gateway's read-back finds it missing), an async job reads 404, and none of them is billed.
 */
describe.each([
  ['at the provider', '256', 'FAILURE_REDIS_PORT'],
  ['queued', '1', 'FAILURE_REDIS_PORT_2'],
])('a Redis restart that loses every key, jobs %s', (_label, concurrency, portVar) => {
  // No AOF, no RDB: a restart comes back empty.
  const redis = new PrivateRedis(['--appendonly', 'no']);
  let sys: TestSystem;
  /** A user's key with quota limits and a rate limit: admission, settlement and the quota rebuild run by script. */
  let key = '';

  beforeAll(async () => {
    // A port of the run's own when given (0: a free one).
    redis.port = Number(process.env[portVar] ?? 0);
    await redis.start();
    sys = new TestSystem({
      workers: 1,
      env: {
        REDIS_URL: redis.url,
        REQUEST_TIMEOUT_MS: String(DEADLINE_MS),
        WORKER_CONCURRENCY: concurrency,
        CACHE_ENABLED: 'true',
      },
    });
    await sys.start();
    sys.sim.configure({ latencyMs: PROVIDER_MS, echo: true });
    const [user] = await sys.query<{ id: string }>("INSERT INTO users (name) VALUES ('limited') RETURNING id");
    key = `sk-aigw-${randomBytes(24).toString('base64url')}`;
    await sys.query('INSERT INTO api_keys (user_id, role, key_hash, prefix, rpm) VALUES ($1, $2, $3, $4, $5)', [
      user.id,
      'user',
      createHash('sha256').update(key).digest('hex'),
      key.slice(0, 16),
      10_000,
    ]);
    await sys.query(
      `INSERT INTO user_quotas (user_id, tier, daily_spend_limit_usd, daily_request_limit) VALUES ($1, 'default', 100, 100000)`,
      [user.id],
    );
  }, 90_000);

  afterAll(async () => {
    await sys?.stop();
    await redis.stop();
  }, 60_000);

  const chatBody = (prompt: string, stream = false): string =>
    JSON.stringify({ model: 'sim0/sim-gpt', stream, messages: [{ role: 'user', content: prompt }] });

  async function sync(prompt: string): Promise<Outcome> {
    const started = Date.now();
    const r = await fetch(`${sys.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: sys.headers(key),
      body: chatBody(prompt),
    });
    const json = (await r.json()) as { choices?: { message: { content: string } }[]; error?: { code: string } };
    return {
      prompt,
      status: r.status,
      ms: Date.now() - started,
      text: json.choices?.[0].message.content,
      code: json.error?.code,
      cache: r.headers.get('x-gateway-cache'),
    };
  }

  async function stream(prompt: string): Promise<Outcome> {
    const started = Date.now();
    const r = await fetch(`${sys.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: sys.headers(key),
      body: chatBody(prompt, true),
    });
    const raw = await r.text();
    const ms = Date.now() - started;
    if (!(r.headers.get('content-type') ?? '').includes('text/event-stream')) {
      const json = JSON.parse(raw) as { error?: { code: string } };
      return { prompt, status: r.status, ms, code: json.error?.code };
    }
    const events = parseSse(raw);
    const text = events
      .filter((e) => e.data !== '[DONE]')
      .map((e) => JSON.parse(e.data) as { choices?: { delta?: { content?: string } }[] })
      .map((c) => c.choices?.[0]?.delta?.content ?? '')
      .join('');
    return { prompt, status: r.status, ms, text, last: events.at(-1)?.data };
  }

  async function submit(prompt: string): Promise<{ prompt: string; status: number; jobId?: string }> {
    const r = await fetch(`${sys.gatewayUrl}/api/v1/ai/jobs`, {
      method: 'POST',
      headers: sys.headers(key),
      body: JSON.stringify({ model: 'sim0/sim-gpt', prompt }),
    });
    const json = (await r.json()) as { jobId?: string };
    return { prompt, status: r.status, jobId: json.jobId };
  }

  it('answers or fails every caller, then serves new generations, billing none twice', async () => {
    const syncs = [0, 1, 2].map((i) => sync(`before restart sync ${i}`));
    const streams = [0, 1].map((i) => stream(`before restart stream ${i}`));
    const jobs = await Promise.all([0, 1, 2].map((i) => submit(`before restart async ${i}`)));
    expect(jobs.map((j) => j.status)).toEqual([202, 202, 202]);

    // They are at the provider when Redis dies and comes back with nothing.
    await new Promise((r) => setTimeout(r, 400));
    await redis.restart(500);

    for (const s of await Promise.all(syncs)) {
      expect(s.ms).toBeLessThan(DEADLINE_MS + 5_000);
      if (s.status === 200) {
        expect(s.text).toContain(s.prompt);
      } else {
        expect({ prompt: s.prompt, status: s.status, code: s.code }).toEqual({
          prompt: s.prompt,
          status: 503,
          code: 'service_unavailable',
        });
      }
    }
    for (const s of await Promise.all(streams)) {
      expect(s.ms).toBeLessThan(DEADLINE_MS + 5_000);
      if (s.last !== undefined) {
        // Ends with [DONE] after the whole answer, or with an error event: never a silent close.
        if (s.last === '[DONE]') {
          expect(s.text).toContain(s.prompt);
        } else {
          expect((JSON.parse(s.last) as { error?: { code?: string } }).error?.code).toEqual(expect.any(String));
        }
      } else {
        expect({ prompt: s.prompt, status: s.status, code: s.code }).toEqual({
          prompt: s.prompt,
          status: 503,
          code: 'service_unavailable',
        });
      }
    }

    // The workers consume again: new generations, sync, streamed and async, succeed.
    sys.sim.configure({ latencyMs: 0, echo: true });
    const first = await waitFor(
      async () => {
        const s = await sync(`after restart probe ${Date.now()}`);
        return s.status === 200 ? s : null;
      },
      { timeoutMs: 30_000, intervalMs: 250, message: 'no generation succeeded after the restart' },
    );
    expect(first.status).toBe(200);
    for (let i = 0; i < 3; i++) {
      const s = await sync(`after restart sync ${i}`);
      expect({ status: s.status, text: s.text }).toEqual({ status: 200, text: expect.stringContaining(s.prompt) });
      const st = await stream(`after restart stream ${i}`);
      expect({ status: st.status, last: st.last }).toEqual({ status: 200, last: '[DONE]' });
      expect(st.text).toContain(st.prompt);
    }
    // Admission ran its scripts on the new server (loaded again there: NOSCRIPT, then EVAL): the user's counters exist.
    const probe = new Redis(redis.url);
    try {
      expect((await probe.keys(`${sys.prefix}:gov:*`)).length).toBeGreaterThan(0);
    } finally {
      await probe.quit();
    }
    // The same request again: a cache hit where the cache answers (its scripts too run on the new server).
    const again = await sync('after restart sync 0');
    expect({ status: again.status, text: again.text, cache: again.cache }).toEqual({
      status: 200,
      text: 'after restart sync 0',
      cache: 'hit',
    });
    const after = await submit('after restart async');
    expect(after.status).toBe(202);
    const view = await waitFor(
      async () => {
        const r = await fetch(`${sys.gatewayUrl}/api/v1/ai/jobs/${after.jobId ?? ''}`, { headers: sys.headers(key) });
        const v = (await r.json()) as { status: string; result?: { text: string } };
        return v.status === 'completed' || v.status === 'failed' ? v : null;
      },
      { timeoutMs: 20_000, intervalMs: 200, message: 'the async job after the restart did not finish' },
    );
    expect(view.status).toBe('completed');
    expect(view.result?.text).toContain('after restart async');

    // An async job accepted before is never left queued or running forever: it finished, failed, or is gone (404).
    for (const j of jobs) {
      const seen = await waitFor(
        async () => {
          const r = await fetch(`${sys.gatewayUrl}/api/v1/ai/jobs/${j.jobId ?? ''}`, { headers: sys.headers(key) });
          const v = (await r.json()) as { status?: string; error?: { code: string } };
          return r.status === 404 || v.status === 'completed' || v.status === 'failed'
            ? { status: r.status, state: v.status ?? v.error?.code }
            : null;
        },
        { timeoutMs: 30_000, intervalMs: 250, message: `job ${j.jobId ?? ''} (${j.prompt}) stayed queued or running` },
      );
      expect(seen.state).toEqual(expect.any(String));
    }

    // No generation was billed twice, and none ran twice at the provider; one lost in the queue is not billed.
    const calls = new Map<string, number>();
    for (const req of sys.sim.lastRequests(1_000)) {
      const messages = (req.body as { messages?: { content: string }[] }).messages ?? [];
      const prompt = messages.at(-1)?.content ?? '';
      calls.set(prompt, (calls.get(prompt) ?? 0) + 1);
    }
    for (const [prompt, n] of calls) {
      expect({ prompt, calls: n }).toEqual({ prompt, calls: 1 });
    }
    // Every provider call's usage row, once (request ids are unique: a second row would be refused, not counted).
    // (and the cache hit's row, billed nothing).
    const byKind = async (): Promise<string> => {
      const rows = await sys.query<{ cached: boolean; n: string }>(
        'SELECT cached, count(*) AS n FROM usage_records GROUP BY cached ORDER BY cached',
      );
      return rows.map((r) => `${r.cached ? 'hit' : 'call'}:${r.n}`).join(' ');
    };
    await waitFor(async () => ((await byKind()) === `call:${calls.size} hit:1` ? true : null), {
      timeoutMs: 20_000,
      intervalMs: 250,
      message: 'a provider call has no usage row, or one has two',
    }).catch(async (err: unknown) => {
      throw new Error(`${String(err)}: ${await byKind()} for ${calls.size} calls`, { cause: err });
    });
    for (const app of sys.apps) {
      expect({ app: app.name, unhandled: app.output.join('').includes('Unhandled error event') }).toEqual({
        app: app.name,
        unhandled: false,
      });
    }
  }, 240_000);
});
