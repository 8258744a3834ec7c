import { request as httpRequest } from 'node:http';
import { ErrorCode, GatewayError } from '@aigw/core';
import { RedisKeys } from '@aigw/platform';
import { Redis } from 'ioredis';
import { waitFor } from '@aigw/testing';
import { idempotentJobId } from '../../apps/api-gateway/src/generation/idempotency';
import { GenerationQueue } from '../../apps/api-gateway/src/generation/generation-queue';
import { call, createKey, createUser } from './admin/admin-support';
import { chat, GatewayHarness, lastUserText, REDIS_URL, sleep, sseEvents, type ErrorEnvelope } from './support';

interface JobView {
  jobId: string;
  status: string;
  result?: { text: string; provider: string };
  error?: { code: string };
  createdAt: string;
  finishedAt?: string;
}

/** Idempotency-Key replays and the async jobs API. */
describe('idempotency and async jobs', () => {
  const h = new GatewayHarness();

  beforeAll(() => h.start(), 60_000);
  afterAll(() => h.stop(), 30_000);
  beforeEach(() => h.handle((job) => h.answer(job, lastUserText(job.data.request))));

  describe('Idempotency-Key', () => {
    it('runs one job for two concurrent requests with the same key and body; both get the answer', async () => {
      h.handle(async (job) => {
        await sleep(300);
        return h.answer(job, 'only once');
      });
      const before = h.jobsSeen.length;
      const headers = h.headers(h.adminKey, { 'idempotency-key': 'order-1' });
      const [a, b] = await Promise.all([
        h.post('/v1/chat/completions', chat('buy'), headers),
        sleep(50).then(() =>
          h.post('/v1/chat/completions', { messages: [{ content: 'buy', role: 'user' }], model: 'sim-gpt' }, headers),
        ),
      ]);
      expect([a.status, b.status]).toEqual([200, 200]);
      const [ja, jb] = (await Promise.all([a.json(), b.json()])) as { choices: { message: { content: string } }[] }[];
      expect(ja.choices[0].message.content).toBe('only once');
      expect(jb.choices[0].message.content).toBe('only once');
      expect(h.jobsSeen.length - before).toBe(1);
      expect(h.jobsSeen[h.jobsSeen.length - 1]).toMatch(/^idem_[0-9a-f]{64}$/);
    });

    it.each([false, true])(
      'requests sent at the same instant with one key (stream: %s) run one job, all get its answer, counted once',
      async (stream) => {
        // Found by exploratory testing: the requests after the first found its job not queued yet and each ran it
        // again, under the same job id: every one was admitted (its reservation never settled), and all but one
        // waiter of the gateway were dropped from its watch, hanging past their deadline until the client left.
        const user = await createUser(h, `idem-burst-${String(stream)}`);
        await call(h, 'PUT', `/api/v1/ai/admin/quotas/${user.id}`, { dailyRequestLimit: 100 });
        const key = (await createKey(h, { userId: user.id })).key;
        h.handle(async (job) => {
          await sleep(200);
          return h.answer(job, 'one run');
        });
        const before = h.jobsSeen.length;
        const headers = h.headers(key, { 'idempotency-key': `burst-${String(stream)}` });
        const body = chat('at once', stream ? { stream: true } : {});
        const answers = await Promise.all(
          Array.from({ length: 6 }, async () => {
            const res = await h.post('/v1/chat/completions', body, headers, AbortSignal.timeout(5_000));
            if (!stream) {
              const json = (await res.json()) as { choices: { message: { content: string } }[] };
              return { status: res.status, text: json.choices[0].message.content };
            }
            const { payloads } = await sseEvents(res);
            const deltas = payloads
              .slice(0, -1)
              .map((p) => (p as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content ?? '');
            return { status: res.status, text: deltas.join('') };
          }),
        );
        for (const a of answers) {
          expect(a).toEqual({ status: 200, text: 'one run' });
        }
        expect(h.jobsSeen.length - before).toBe(1);
        const quota = await call<{ dailyRequests: number }>(h, 'GET', `/api/v1/ai/admin/quotas/${user.id}`);
        expect(quota.body.dailyRequests).toBe(1);
      },
    );

    it('replays a finished request from its stored result without a new job', async () => {
      const headers = h.headers(h.adminKey, { 'idempotency-key': 'order-2' });
      const first = await h.post('/v1/chat/completions', chat('again'), headers);
      expect(first.status).toBe(200);
      const before = h.jobsSeen.length;
      const second = await h.post('/v1/chat/completions', chat('again'), headers);
      expect(second.status).toBe(200);
      expect(h.jobsSeen.length).toBe(before);
      expect(
        ((await second.json()) as { choices: { message: { content: string } }[] }).choices[0].message.content,
      ).toBe('again');
      // The replay says so (its cost header is the first request's, billed once); the first answer does not.
      expect(second.headers.get('x-gateway-idempotent-replay')).toBe('true');
      expect(first.headers.get('x-gateway-idempotent-replay')).toBeNull();
    });

    it.each([
      ['no_healthy_provider', ErrorCode.NoHealthyProvider, 503, 'service_unavailable_error'],
      ['all_providers_failed', ErrorCode.AllProvidersFailed, 502, 'provider_error'],
    ] as const)(
      'a replay of a request that failed with %s (an error saying to retry) runs it again',
      async (name, code, status, type) => {
        h.handle((job) => h.fail(job, { message: `failed: ${name}`, type, code, param: null }, 1_000));
        const headers = h.headers(h.adminKey, { 'idempotency-key': `order-${name}` });
        expect((await h.post('/v1/chat/completions', chat(`retry ${name}`), headers)).status).toBe(status);
        h.handle((job) => h.answer(job, 'recovered'));
        const retried = await h.post('/v1/chat/completions', chat(`retry ${name}`), headers);
        expect(retried.status).toBe(200);
        expect(retried.headers.get('x-gateway-idempotent-replay')).toBeNull();
      },
    );

    it('a replay of a request refused for what it asks answers that error again, without a new job', async () => {
      const tooLong = {
        message: 'The prompt is longer than the context window.',
        type: 'invalid_request_error' as const,
        code: ErrorCode.ContextLengthExceeded,
        param: 'messages',
      };
      h.handle((job) => h.fail(job, tooLong));
      const headers = h.headers(h.adminKey, { 'idempotency-key': 'order-too-long' });
      expect((await h.post('/v1/chat/completions', chat('too long'), headers)).status).toBe(400);
      const before = h.jobsSeen.length;
      h.handle((job) => h.answer(job, 'not this'));
      const again = await h.post('/v1/chat/completions', chat('too long'), headers);
      expect(again.status).toBe(400);
      expect(again.headers.get('x-gateway-idempotent-replay')).toBe('true');
      expect(h.jobsSeen.length).toBe(before);
    });

    it('a replay of a request that was never carried out (worker shut down) runs it again, then replays its answer', async () => {
      const shutdown = {
        message: 'The worker shut down before the provider answered; retry the request.',
        type: 'service_unavailable_error' as const,
        code: ErrorCode.ServiceUnavailable,
        param: null,
      };
      h.handle((job) => h.fail(job, shutdown, 1_000));
      const headers = h.headers(h.adminKey, { 'idempotency-key': 'order-shutdown' });
      expect((await h.post('/v1/chat/completions', chat('retry me'), headers)).status).toBe(503);

      h.handle((job) => h.answer(job, 'carried out'));
      const before = h.jobsSeen.length;
      const retried = await h.post('/v1/chat/completions', chat('retry me'), headers);
      expect(retried.status).toBe(200);
      const text = async (r: Response) =>
        ((await r.json()) as { choices: { message: { content: string } }[] }).choices[0].message.content;
      expect(await text(retried)).toBe('carried out');
      expect(h.jobsSeen.length).toBe(before + 1);
      const replayed = await h.post('/v1/chat/completions', chat('retry me'), headers);
      expect(await text(replayed)).toBe('carried out');
      expect(h.jobsSeen.length).toBe(before + 1);
    });

    it('a retry right after its client left runs the request again, not the cancellation of the run it left', async () => {
      let runs = 0;
      h.handle(async (job) => {
        runs++;
        if (runs === 1) {
          // The first run is stopped because its client left; it ends in that cancellation a moment later.
          await sleep(400);
          return h.failClientGone(job);
        }
        return h.answer(job, 'second run');
      });
      const headers = h.headers(h.adminKey, { 'idempotency-key': 'order-left' });
      const abort = new AbortController();
      const first = h.post('/v1/chat/completions', chat('leave early'), headers, abort.signal).catch(() => null);
      await waitFor(() => runs === 1);
      abort.abort();
      await first;
      await sleep(20);
      const retried = await h.post('/v1/chat/completions', chat('leave early'), headers);
      expect(retried.status).toBe(200);
      const body = (await retried.json()) as { choices: { message: { content: string } }[] };
      expect(body.choices[0].message.content).toBe('second run');
      expect(runs).toBe(2);
    });

    it("an async re-run whose add fails gives the key's run back: the client's next retry runs at once", async () => {
      const created = await createKey(h, { userId: (await createUser(h, 'idem-rerun-addfail')).id });
      const headers = h.headers(created.key, { 'idempotency-key': 'order-addfail' });
      let jobId: string;
      await h.queue.pause();
      try {
        const first = await h.post('/api/v1/ai/jobs', { prompt: 'add fails' }, headers);
        expect(first.status).toBe(202);
        jobId = ((await first.json()) as { jobId: string }).jobId;
        const cancelled = await h.post(`/api/v1/ai/jobs/${jobId}/cancel`, undefined, h.headers(created.key));
        expect(((await cancelled.json()) as JobView).status).toBe('cancelled');
      } finally {
        await h.queue.resume();
      }
      // The replay finds the job cancelled, takes the key's run to run it again, and its add fails.
      const add = jest
        .spyOn(h.app.get(GenerationQueue), 'add')
        .mockRejectedValueOnce(
          new GatewayError(ErrorCode.ServiceUnavailable, 'The request could not be queued; retry shortly.'),
        );
      let failed: Response;
      try {
        failed = await h.post('/api/v1/ai/jobs', { prompt: 'add fails' }, headers);
      } finally {
        add.mockRestore();
      }
      expect(failed.status).toBe(503);
      // The run is given back, not held RUN_HOLD_MS: the claim keeps its body's fingerprint and no run.
      const redis = new Redis(REDIS_URL);
      const claim = await redis
        .get(h.app.get(RedisKeys).key('idem', idempotentJobId(created.id, 'order-addfail')))
        .finally(() => void redis.quit());
      expect(claim).not.toBeNull();
      expect(claim).not.toContain('#');
      const retried = await h.post('/api/v1/ai/jobs', { prompt: 'add fails' }, headers);
      expect(retried.status).toBe(202);
      expect(((await retried.json()) as { jobId: string }).jobId).toBe(jobId);
      await waitFor(async () => {
        const res = await h.get(`/api/v1/ai/jobs/${jobId}`, h.headers(created.key));
        return ((await res.json()) as JobView).result?.text === 'add fails';
      });
    });

    it('a retry that joined the run before its first client left keeps it running: the run is not stopped under it', async () => {
      let runs = 0;
      h.handle(async (job) => {
        runs++;
        // Stopped only if a cancel comes within 800 ms.
        if (await h.cancelled(job.id ?? '', 800)) {
          return h.failClientGone(job);
        }
        return h.answer(job, 'the one run');
      });
      const headers = h.headers(h.adminKey, { 'idempotency-key': 'order-joined' });
      const abort = new AbortController();
      const first = h.post('/v1/chat/completions', chat('join me'), headers, abort.signal).catch(() => null);
      await waitFor(() => runs === 1);
      const retried = h.post('/v1/chat/completions', chat('join me'), headers);
      await sleep(150);
      abort.abort();
      await first;
      const res = await retried;
      expect(res.status).toBe(200);
      const body = (await res.json()) as { choices: { message: { content: string } }[] };
      expect(body.choices[0].message.content).toBe('the one run');
      expect(runs).toBe(1);
    });

    it('409 idempotency_key_reused when the same key comes with another body', async () => {
      const headers = h.headers(h.adminKey, { 'idempotency-key': 'order-3' });
      expect((await h.post('/v1/chat/completions', chat('first'), headers)).status).toBe(200);
      const res = await h.post('/v1/chat/completions', chat('second'), headers);
      expect(res.status).toBe(409);
      const body = (await res.json()) as ErrorEnvelope;
      expect(body.error).toMatchObject({
        code: 'idempotency_key_reused',
        param: 'Idempotency-Key',
        type: 'conflict_error',
      });
    });

    it('400 naming Idempotency-Key when it is sent twice (Node joined the two into one key, "a1, a2")', async () => {
      /** A chat request with headers sent on several lines each (fetch would join them into one line). */
      const postLines = (text: string, lines: Record<string, string[]>): Promise<{ status: number; text: string }> =>
        new Promise((resolve, reject) => {
          const req = httpRequest(
            new URL(`${h.url}/v1/chat/completions`),
            { method: 'POST', headers: { ...h.headers(h.adminKey), ...lines } },
            (res) => {
              let got = '';
              res.setEncoding('utf8');
              res.on('data', (d: string) => (got += d));
              res.on('end', () => resolve({ status: res.statusCode ?? 0, text: got }));
            },
          );
          req.on('error', reject);
          req.end(JSON.stringify(chat(text)));
        });
      const answer = await postLines('two keys', { 'idempotency-key': ['order-a1', 'order-a2'] });
      expect(answer.status).toBe(400);
      expect((JSON.parse(answer.text) as ErrorEnvelope).error).toMatchObject({
        code: 'invalid_request',
        param: 'Idempotency-Key',
      });
      // One header whose value holds a comma is one key, as sent.
      const one = await h.post(
        '/v1/chat/completions',
        chat('one key'),
        h.headers(h.adminKey, { 'idempotency-key': 'a, b' }),
      );
      expect(one.status).toBe(200);
      // A list header on two lines means its values joined: not refused.
      expect((await postLines('two lines', { 'cache-control': ['no-cache', 'max-age=0'] })).status).toBe(200);
    });

    it('scopes keys per user: another user with the same key gets its own job', async () => {
      const key = await h.userKey('idem-bob');
      const before = h.jobsSeen.length;
      await h.post('/v1/chat/completions', chat('shared key'), h.headers(h.adminKey, { 'idempotency-key': 'order-4' }));
      await h.post('/v1/chat/completions', chat('shared key'), h.headers(key, { 'idempotency-key': 'order-4' }));
      expect(h.jobsSeen.length - before).toBe(2);
    });

    it("scopes keys per API key: a user's key restricted to other models never gets her other key's answer", async () => {
      const alice = await createUser(h, 'idem-alice');
      const open = (await createKey(h, { userId: alice.id })).key;
      const restricted = (await createKey(h, { userId: alice.id, allowedModels: ['sim-claude'] })).key;
      const body = { model: 'auto', messages: [{ role: 'user', content: 'which model?' }] };
      const seen: { id: string; allowedModels?: string[] }[] = [];
      h.handle((job) => {
        seen.push({ id: job.id ?? '', allowedModels: job.data.request.allowedModels });
        return h.answer(job, `answered for ${job.data.request.allowedModels?.join(',') ?? 'any model'}`);
      });
      const text = async (r: Response) =>
        ((await r.json()) as { choices: { message: { content: string } }[] }).choices[0].message.content;

      const sync = { 'idempotency-key': 'alice-sync' };
      expect(await text(await h.post('/v1/chat/completions', body, h.headers(open, sync)))).toBe(
        'answered for any model',
      );
      expect(await text(await h.post('/v1/chat/completions', body, h.headers(restricted, sync)))).toBe(
        'answered for sim-claude',
      );
      const stream = { 'idempotency-key': 'alice-stream' };
      const streamed = async (key: string) =>
        (
          await sseEvents(await h.post('/v1/chat/completions', { ...body, stream: true }, h.headers(key, stream)))
        ).payloads
          .slice(0, -1)
          .map((p) => (p as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content ?? '')
          .join('');
      expect(await streamed(open)).toBe('answered for any model');
      expect(await streamed(restricted)).toBe('answered for sim-claude');

      const async = { 'idempotency-key': 'alice-async' };
      const job = async (key: string) =>
        (
          (await (await h.post('/api/v1/ai/jobs', { prompt: 'which model?' }, h.headers(key, async))).json()) as {
            jobId: string;
          }
        ).jobId;
      const openJob = await job(open);
      const restrictedJob = await job(restricted);
      expect(restrictedJob).not.toBe(openJob);
      await waitFor(() => seen.some((s) => s.id === restrictedJob));
      expect(seen.find((s) => s.id === restrictedJob)?.allowedModels).toEqual(['sim-claude']);
    });

    it('replays a stream as one chunk from the stored result', async () => {
      const headers = h.headers(h.adminKey, { 'idempotency-key': 'stream-1' });
      const body = chat('stream me twice', { stream: true });
      const first = await sseEvents(await h.post('/v1/chat/completions', body, headers));
      expect(first.payloads[first.payloads.length - 1]).toBe('[DONE]');
      const second = await sseEvents(await h.post('/v1/chat/completions', body, headers));
      const contents = second.payloads
        .slice(0, -1)
        .map((p) => (p as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content)
        .filter(Boolean);
      expect(contents).toEqual(['stream me twice']);
      expect(second.payloads[second.payloads.length - 1]).toBe('[DONE]');
    });

    it('a replay or a 409 is neither counted against quotas nor refused by them; a refused first request frees its key', async () => {
      const user = await createUser(h, 'idem-quota');
      await call(h, 'PUT', `/api/v1/ai/admin/quotas/${user.id}`, { dailyRequestLimit: 3 });
      const key = (await createKey(h, { userId: user.id })).key;
      const dailyRequests = async () =>
        (await call<{ dailyRequests: number }>(h, 'GET', `/api/v1/ai/admin/quotas/${user.id}`)).body.dailyRequests;
      const chatKey = h.headers(key, { 'idempotency-key': 'quota-chat' });
      const streamKey = h.headers(key, { 'idempotency-key': 'quota-stream' });
      const jobKey = h.headers(key, { 'idempotency-key': 'quota-job' });
      const streamed = chat('stream once', { stream: true });

      expect((await h.post('/v1/chat/completions', chat('pay once'), chatKey)).status).toBe(200);
      expect((await h.post('/v1/chat/completions', chat('pay once'), chatKey)).status).toBe(200);
      expect((await h.post('/v1/chat/completions', chat('another body'), chatKey)).status).toBe(409);
      expect((await h.post('/v1/chat/completions', streamed, streamKey)).status).toBe(200);
      const first = await h.post('/api/v1/ai/jobs', { prompt: 'job once' }, jobKey);
      expect(first.status).toBe(202);
      const accepted = (await first.json()) as { jobId: string };
      expect(await dailyRequests()).toBe(3);

      // The day's last request was used: its retries still get what it paid for.
      const before = h.jobsSeen.length;
      const retried = await h.post('/v1/chat/completions', chat('pay once'), chatKey);
      expect(retried.status).toBe(200);
      expect(
        ((await retried.json()) as { choices: { message: { content: string } }[] }).choices[0].message.content,
      ).toBe('pay once');
      const stream = await h.post('/v1/chat/completions', streamed, streamKey);
      expect(stream.status).toBe(200);
      expect((await sseEvents(stream)).payloads.at(-1)).toBe('[DONE]');
      const job = await h.post('/api/v1/ai/jobs', { prompt: 'job once' }, jobKey);
      expect(job.status).toBe(202);
      expect(((await job.json()) as { jobId: string }).jobId).toBe(accepted.jobId);
      expect((await h.post('/v1/chat/completions', chat('another body'), chatKey)).status).toBe(409);
      expect(h.jobsSeen.length).toBe(before);
      expect(await dailyRequests()).toBe(3);

      // A new request is refused, and its key is not left bound to a body that never ran.
      const fresh = h.headers(key, { 'idempotency-key': 'quota-refused' });
      expect((await h.post('/v1/chat/completions', chat('over quota'), fresh)).status).toBe(429);
      const other = await h.post('/v1/chat/completions', chat('over quota, other body'), fresh);
      expect(other.status).toBe(429);
      expect(((await other.json()) as ErrorEnvelope).error.code).toBe('quota_exceeded');
      expect(await dailyRequests()).toBe(3);
    });

    it('400 for an over-long key', async () => {
      const res = await h.post(
        '/v1/chat/completions',
        chat('x'),
        h.headers(h.adminKey, { 'idempotency-key': 'k'.repeat(256) }),
      );
      expect(res.status).toBe(400);
      expect(((await res.json()) as ErrorEnvelope).error.param).toBe('Idempotency-Key');
    });
  });

  describe('async jobs', () => {
    it('202 with a Location, then queued -> completed with the result', async () => {
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      h.handle(async (job) => {
        await gate;
        return h.answer(job, 'async answer');
      });
      await h.queue.pause();
      const res = await h.post('/api/v1/ai/jobs', { prompt: 'later please', model: 'sim-gpt' });
      expect(res.status).toBe(202);
      const accepted = (await res.json()) as { jobId: string; status: string };
      expect(accepted.status).toBe('queued');
      expect(res.headers.get('location')).toBe(`/api/v1/ai/jobs/${accepted.jobId}`);

      const queued = (await (await h.get(`/api/v1/ai/jobs/${accepted.jobId}`)).json()) as JobView;
      expect(queued).toMatchObject({ jobId: accepted.jobId, status: 'queued' });
      expect(Date.parse(queued.createdAt)).not.toBeNaN();

      await h.queue.resume();
      await waitFor(
        async () => ((await (await h.get(`/api/v1/ai/jobs/${accepted.jobId}`)).json()) as JobView).status === 'running',
      );
      release();
      const done = await waitFor(async () => {
        const view = (await (await h.get(`/api/v1/ai/jobs/${accepted.jobId}`)).json()) as JobView;
        return view.status === 'completed' ? view : null;
      });
      expect(done.result).toMatchObject({ text: 'async answer', provider: 'sim' });
      expect(Date.parse(done.finishedAt ?? '')).not.toBeNaN();
      const job = await h.queue.getJob(accepted.jobId);
      expect(job?.data.replyTo).toBeNull();
      expect(job?.data.request.messages).toEqual([{ role: 'user', content: 'later please' }]);
    });

    it("a job's result names the x-request-id of the request that made it, the client's own too", async () => {
      h.handle((job) => h.answer(job, 'traced'));
      const headers = h.headers(h.adminKey, { 'x-request-id': 'async-cli-1' });
      const res = await h.post('/api/v1/ai/jobs', { prompt: 'trace me' }, headers);
      expect(res.headers.get('x-request-id')).toBe('async-cli-1');
      const { jobId } = (await res.json()) as { jobId: string };
      expect(jobId).not.toBe('async-cli-1');
      const done = await waitFor(async () => {
        const view = (await (await h.get(`/api/v1/ai/jobs/${jobId}`)).json()) as JobView;
        return view.status === 'completed' ? view : null;
      });
      expect(done.result).toMatchObject({ requestId: 'async-cli-1', text: 'traced' });
    });

    it('reports a failed generation as failed with its error', async () => {
      h.handle(() =>
        Promise.resolve({
          ok: false as const,
          error: { message: 'nope', type: 'provider_error' as const, code: ErrorCode.AllProvidersFailed, param: null },
        }),
      );
      const { jobId } = (await (await h.post('/api/v1/ai/jobs', { prompt: 'fail' })).json()) as { jobId: string };
      const view = await waitFor(async () => {
        const v = (await (await h.get(`/api/v1/ai/jobs/${jobId}`)).json()) as JobView;
        return v.status === 'failed' ? v : null;
      });
      expect(view.error?.code).toBe('all_providers_failed');
    });

    it("404 for an unknown job and for another user's job (but an admin sees it)", async () => {
      const bob = await h.userKey('jobs-bob');
      const carol = await h.userKey('jobs-carol');
      const { jobId } = (await (await h.post('/api/v1/ai/jobs', { prompt: 'mine' }, h.headers(bob))).json()) as {
        jobId: string;
      };
      expect((await h.get(`/api/v1/ai/jobs/${jobId}`, h.headers(bob))).status).toBe(200);
      const other = await h.get(`/api/v1/ai/jobs/${jobId}`, h.headers(carol));
      expect(other.status).toBe(404);
      expect(((await other.json()) as ErrorEnvelope).error.code).toBe('not_found');
      expect((await h.get(`/api/v1/ai/jobs/${jobId}`, h.headers(h.adminKey))).status).toBe(200);
      expect((await h.get('/api/v1/ai/jobs/req_unknown', h.headers(bob))).status).toBe(404);
    });

    it('an Idempotency-Key returns the same job id without enqueueing again', async () => {
      const headers = h.headers(h.adminKey, { 'idempotency-key': 'async-1' });
      const before = h.jobsSeen.length;
      const a = (await (await h.post('/api/v1/ai/jobs', { prompt: 'once' }, headers)).json()) as { jobId: string };
      await waitFor(() => h.jobsSeen.length > before);
      const b = (await (await h.post('/api/v1/ai/jobs', { prompt: 'once' }, headers)).json()) as { jobId: string };
      expect(b.jobId).toBe(a.jobId);
      await sleep(100);
      expect(h.jobsSeen.length - before).toBe(1);
      const conflict = await h.post('/api/v1/ai/jobs', { prompt: 'twice' }, headers);
      expect(conflict.status).toBe(409);
    });

    it("a replay with the same Idempotency-Key answers the job's state, not always queued", async () => {
      const submit = async (prompt: string, key: string): Promise<{ jobId: string; status: string }> => {
        const res = await h.post('/api/v1/ai/jobs', { prompt }, h.headers(h.adminKey, { 'idempotency-key': key }));
        expect(res.status).toBe(202);
        return (await res.json()) as { jobId: string; status: string };
      };
      const finished = async (jobId: string, status: string): Promise<void> => {
        await waitFor(
          async () => ((await (await h.get(`/api/v1/ai/jobs/${jobId}`)).json()) as JobView).status === status,
        );
      };

      const first = await submit('state please', 'async-state');
      expect(first.status).toBe('queued');
      await finished(first.jobId, 'completed');
      expect(await submit('state please', 'async-state')).toEqual({ jobId: first.jobId, status: 'completed' });

      // An error about the request itself is replayed, not run again: the job failed.
      h.handle((job) =>
        h.fail(job, {
          message: 'The prompt is longer than the context window.',
          type: 'invalid_request_error',
          code: ErrorCode.ContextLengthExceeded,
          param: 'prompt',
        }),
      );
      const refused = await submit('too long', 'async-refused');
      await finished(refused.jobId, 'failed');
      expect(await submit('too long', 'async-refused')).toEqual({ jobId: refused.jobId, status: 'failed' });

      // Still waiting: queued it is.
      await h.queue.pause();
      try {
        const waiting = await submit('wait', 'async-waiting');
        expect(await submit('wait', 'async-waiting')).toEqual({ jobId: waiting.jobId, status: 'queued' });
      } finally {
        await h.queue.resume();
      }
    });
  });
});
