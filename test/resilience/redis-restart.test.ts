import { PrivateRedis, waitFor } from '@aigw/testing';
import { TestSystem, type AppProcess } from '../e2e/harness';

/**
 * Redis restarted (SIGKILL, AOF with appendfsync always) ten times in a row while async and sync generations
 * are queued or at the provider, with the provider slower than each outage. Every accepted generation must
 * complete with its answer, each with exactly one provider call, and each with exactly one usage row; sync
 * requests either answer or get a clean 503 with Retry-After, never a hang or an internal error.
 */
const ROUNDS = 10;
const PROVIDER_MS = 1_500;
const OUTAGE_MS = 1_000;
const DEADLINE_MS = 30_000;

interface SyncOutcome {
  prompt: string;
  status: number;
  retryAfter: string | null;
  requestId: string | null;
  text?: string;
  code?: string;
  ms: number;
}

interface AsyncOutcome {
  prompt: string;
  status: number;
  jobId?: string;
  retryAfter: string | null;
}

describe('a Redis outage under load', () => {
  const redis = new PrivateRedis();
  let sys: TestSystem;

  beforeAll(async () => {
    await redis.start();
    sys = new TestSystem({
      workers: 2,
      env: {
        REDIS_URL: redis.url,
        // Production lock settings: a one-second outage does not lapse a job's lock.
        WORKER_LOCK_MS: '10000',
        WORKER_STALLED_INTERVAL_MS: '5000',
        REQUEST_TIMEOUT_MS: String(DEADLINE_MS),
      },
    });
    await sys.start();
    sys.sim.configure({ latencyMs: PROVIDER_MS, echo: true });
  }, 60_000);

  afterAll(async () => {
    await sys?.stop();
    await redis.stop();
  }, 60_000);

  const body = (prompt: string): string =>
    JSON.stringify({ model: 'sim0/sim-gpt', messages: [{ role: 'user', content: prompt }] });

  async function sync(prompt: string): Promise<SyncOutcome> {
    const started = Date.now();
    const r = await fetch(`${sys.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: sys.headers(),
      body: body(prompt),
    });
    const json = (await r.json()) as {
      choices?: { message: { content: string } }[];
      error?: { code: string };
    };
    return {
      prompt,
      status: r.status,
      retryAfter: r.headers.get('retry-after'),
      requestId: r.headers.get('x-request-id'),
      text: json.choices?.[0].message.content,
      code: json.error?.code,
      ms: Date.now() - started,
    };
  }

  async function submit(prompt: string): Promise<AsyncOutcome> {
    const r = await fetch(`${sys.gatewayUrl}/api/v1/ai/jobs`, {
      method: 'POST',
      headers: sys.headers(),
      body: JSON.stringify({ model: 'sim0/sim-gpt', prompt }),
    });
    const json = (await r.json()) as { jobId?: string };
    return { prompt, status: r.status, jobId: json.jobId, retryAfter: r.headers.get('retry-after') };
  }

  it('completes every accepted generation exactly once across ten restarts', async () => {
    const syncs: Promise<SyncOutcome>[] = [];
    const asyncs: Promise<AsyncOutcome>[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < 4; i++) {
        asyncs.push(submit(`round ${round} async ${i}`));
      }
      for (let i = 0; i < 2; i++) {
        syncs.push(sync(`round ${round} sync ${i}`));
      }
      // The provider is answering them when Redis dies.
      await new Promise((r) => setTimeout(r, 400));
      const restarted = redis.restart(OUTAGE_MS);
      await new Promise((r) => setTimeout(r, OUTAGE_MS / 2));
      // Arrivals during the outage.
      asyncs.push(submit(`round ${round} async during`));
      syncs.push(sync(`round ${round} sync during`));
      await restarted;
      await new Promise((r) => setTimeout(r, 1_500));
    }

    const syncResults = await Promise.all(syncs);
    const asyncResults = await Promise.all(asyncs);

    // Sync: an answer, or a clean 503 with Retry-After; never an internal error or a wait past the deadline.
    for (const s of syncResults) {
      if (s.status === 200) {
        expect(s.text).toContain(s.prompt);
      } else {
        expect({ prompt: s.prompt, status: s.status, code: s.code }).toEqual({
          prompt: s.prompt,
          status: 503,
          code: 'service_unavailable',
        });
        expect(Number(s.retryAfter)).toBeGreaterThan(0);
      }
      expect(s.ms).toBeLessThan(DEADLINE_MS);
    }
    for (const a of asyncResults) {
      if (a.status !== 202) {
        expect({ prompt: a.prompt, status: a.status }).toEqual({ prompt: a.prompt, status: 503 });
        expect(Number(a.retryAfter)).toBeGreaterThan(0);
      }
    }
    const acceptedJobs = asyncResults.filter((a) => a.status === 202);
    const answeredSync = syncResults.filter((s) => s.status === 200);
    // The outages must not have turned the test into one without traffic.
    expect(acceptedJobs.length).toBeGreaterThanOrEqual(ROUNDS * 4);
    expect(answeredSync.length).toBeGreaterThanOrEqual(ROUNDS);

    // Every accepted async job completes with its answer.
    const requestIds: string[] = answeredSync.map((s) => s.requestId ?? '');
    for (const a of acceptedJobs) {
      const view = await waitFor(
        async () => {
          const r = await fetch(`${sys.gatewayUrl}/api/v1/ai/jobs/${a.jobId ?? ''}`, { headers: sys.headers() });
          const v = (await r.json()) as {
            status: string;
            result?: { text: string; requestId: string };
            error?: unknown;
          };
          return v.status === 'queued' || v.status === 'running' ? null : v;
        },
        { timeoutMs: 30_000, intervalMs: 200, message: `job ${a.jobId ?? ''} (${a.prompt}) did not finish` },
      );
      expect({ prompt: a.prompt, status: view.status, error: view.error }).toEqual({
        prompt: a.prompt,
        status: 'completed',
        error: undefined,
      });
      expect(view.result?.text).toContain(a.prompt);
      requestIds.push(view.result?.requestId ?? '');
    }

    // Exactly one provider call per accepted generation (and at most one for a request refused with 503,
    // whose enqueue may have reached Redis just before the connection dropped).
    const calls = new Map<string, number>();
    for (const req of sys.sim.lastRequests(1_000)) {
      const messages = (req.body as { messages?: { content: string }[] }).messages ?? [];
      const prompt = messages.at(-1)?.content ?? '';
      calls.set(prompt, (calls.get(prompt) ?? 0) + 1);
    }
    for (const prompt of [...acceptedJobs.map((a) => a.prompt), ...answeredSync.map((s) => s.prompt)]) {
      expect({ prompt, calls: calls.get(prompt) ?? 0 }).toEqual({ prompt, calls: 1 });
    }
    for (const [prompt, n] of calls) {
      expect({ prompt, calls: n }).toEqual({ prompt, calls: 1 });
    }

    // One usage row per completed generation, all successes.
    const rows = await waitFor(
      async () => {
        const found = await sys.query<{ request_id: string; status: string }>(
          'SELECT request_id, status FROM usage_records WHERE request_id = ANY($1)',
          [requestIds],
        );
        return found.length === requestIds.length ? found : null;
      },
      { timeoutMs: 30_000, intervalMs: 250, message: 'usage rows did not all arrive' },
    );
    expect(rows.every((r) => r.status === 'success')).toBe(true);
    const total = await sys.query<{ n: string }>('SELECT count(*) AS n FROM usage_records');
    expect(Number(total[0].n)).toBe(calls.size);

    // Errors were reported through our logger, once per outage and app, never as unhandled client errors. An
    // all-in-one process hosts each app with its own Redis connections and reports (ADR 0010).
    const hosted = (app: AppProcess): number =>
      app.name !== 'all-in-one' ? 1 : app.env.ALL_IN_ONE_MONITOR === 'true' ? 3 : 2;
    for (const app of sys.apps) {
      const out = app.output.join('');
      expect({ app: app.name, unhandled: out.includes('Unhandled error event') }).toEqual({
        app: app.name,
        unhandled: false,
      });
      const outages = out.split('Redis unavailable').length - 1;
      expect({ app: app.name, outages: outages <= ROUNDS * hosted(app) }).toEqual({ app: app.name, outages: true });
    }
  }, 300_000);
});
