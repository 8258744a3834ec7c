import { ErrorCode, type ErrorBody, type ReplyMessage } from '@aigw/core';
import { inFlightNames, RedisKeys } from '@aigw/platform';
import { waitFor } from '@aigw/testing';
import { UnrecoverableError } from 'bullmq';
import { Redis } from 'ioredis';
import { chat, GatewayHarness, REDIS_URL, sseEvents, type GenerateJob } from './support';

/**
 * Coalesced followers (ADR 0007) around the end of the job they follow. The stand-in worker plays the real one's part
 * (the mirror's log and channel, the kept outcome) but never releases the in-flight marker, so a later identical
 * request joins a job that has ended: what the real worker's marker release races with.
 */
describe('a coalesced follower at the end of the job it follows', () => {
  const h = new GatewayHarness({ CACHE_ENABLED: 'true', CACHE_TTL_S: '60' });
  let redis: Redis;
  let keys: RedisKeys;

  beforeAll(async () => {
    await h.start();
    redis = new Redis(REDIS_URL);
    keys = new RedisKeys(h.prefix);
  }, 60_000);

  afterAll(async () => {
    await redis.quit();
    await h.stop();
  }, 30_000);

  /** The marker, log and channel of `job`'s coalescing key. */
  function namesOf(job: GenerateJob): ReturnType<typeof inFlightNames> {
    expect(job.data.coalescingKey).toBeDefined();
    return inFlightNames(keys, job.data.coalescingKey ?? '', job.id ?? '');
  }

  /** As the worker mirrors a coalesced job's message: appended to its log, then published on its channel. */
  async function mirror(job: GenerateJob, msg: ReplyMessage): Promise<void> {
    const names = namesOf(job);
    await redis.rpush(names.log, JSON.stringify(msg));
    await redis.pexpire(names.log, 60_000);
    await redis.publish(names.channel, JSON.stringify(msg));
  }

  function ask(prompt: string, stream = false): Promise<Response> {
    return h.post('/v1/chat/completions', chat(prompt, { stream }));
  }

  async function textOf(res: Response): Promise<string> {
    expect(res.status).toBe(200);
    return ((await res.json()) as { choices: { message: { content: string } }[] }).choices[0].message.content;
  }

  it('a follower that joins after the final reply went out, before the marker went, gets the answer', async () => {
    const jobs: GenerateJob[] = [];
    h.handle(async (job) => {
      jobs.push(job);
      const result = h.result(job.data.request, 'the answer');
      const msg: ReplyMessage = { t: 'result', jobId: job.id ?? '', result };
      await mirror(job, msg);
      await h.publish(job, msg);
      return { ok: true, result };
    });
    const prompt = `window ${Date.now()}`;
    expect(await textOf(await ask(prompt))).toBe('the answer');
    // The job is gone (removed on completion), and so is its kept outcome: only the log holds the answer.
    await redis.del(h.outcomeKey(jobs[0].id ?? ''));
    expect(await redis.exists(namesOf(jobs[0]).marker)).toBe(1);

    const startedAt = Date.now();
    const follower = await ask(prompt);
    expect(follower.headers.get('x-gateway-coalesced')).toBe('true');
    expect(await textOf(follower)).toBe('the answer');
    // From the log at once, not from a read-back (the first comes 2 s after the join).
    expect(Date.now() - startedAt).toBeLessThan(1_500);
    expect(jobs).toHaveLength(1);
  });

  it("a follower of a job BullMQ failed runs a job of its own; the failed job's marker goes", async () => {
    const jobs: GenerateJob[] = [];
    let joined!: () => void;
    const followerJoined = new Promise<void>((resolve) => (joined = resolve));
    h.handle(async (job) => {
      jobs.push(job);
      if (jobs.length === 1) {
        await followerJoined;
        // Every run of it crashed: nothing answered it, no outcome kept, its marker left in place.
        throw new UnrecoverableError('worker lost its connection for good');
      }
      return h.answer(job, `own answer ${jobs.length}`);
    });
    const prompt = `failed leader ${Date.now()}`;
    const leader = ask(prompt);
    await waitFor(() => jobs.length === 1, { message: 'the leader never enqueued' });
    const marker = namesOf(jobs[0]).marker;
    const follower = ask(prompt);
    await waitFor(async () => (await redis.hget(marker, 'n')) === '2', { message: 'the follower never joined' });
    joined();

    expect((await leader).status).toBe(500);
    const followed = await follower;
    expect(followed.headers.get('x-gateway-coalesced')).toBeNull();
    expect(await textOf(followed)).toBe('own answer 2');
    expect(jobs[1].data.request.requestId).toBe(followed.headers.get('x-request-id'));

    // The failed job's marker is gone: the follower led the next job (the stand-in leaves that one's marker), and
    // an identical request now follows that one, answered.
    expect(await redis.hget(marker, 'job')).toBe(jobs[1].id);
    const next = await ask(prompt);
    expect(await textOf(next)).toBe('own answer 2');
  }, 30_000);

  it('a follower of a job that is gone (a marker left behind) runs a job of its own, whole or streamed', async () => {
    const jobs: GenerateJob[] = [];
    h.handle((job) => {
      jobs.push(job);
      return h.answer(job, 'own answer');
    });
    for (const stream of [false, true]) {
      const prompt = `ghost ${stream} ${Date.now()}`;
      // The request once, for its coalescing key (the stand-in leaves its marker: it never releases one).
      const first = await ask(prompt, stream);
      expect(first.status).toBe(200);
      await first.text();
      const names = namesOf(jobs[jobs.length - 1]);
      // What a leader whose gateway died before queuing its job leaves behind.
      await redis.hset(names.marker, 'job', `ghost-${Date.now()}`, 'n', 1);
      const before = jobs.length;

      const res = await ask(prompt, stream);
      expect(res.status).toBe(200);
      expect(res.headers.get('x-gateway-coalesced')).toBeNull();
      if (stream) {
        const { payloads } = await sseEvents(res);
        expect(payloads.at(-1)).toBe('[DONE]');
      } else {
        expect(await textOf(res)).toBe('own answer');
      }
      expect(jobs).toHaveLength(before + 1);
      expect(jobs[before].data.request.requestId).toBe(res.headers.get('x-request-id'));
    }
  }, 40_000);

  it('a follower of a job its worker cut at shutdown (503) runs a job of its own, whole or streamed; the leader gets the 503', async () => {
    for (const stream of [false, true]) {
      const jobs: GenerateJob[] = [];
      let joined!: () => void;
      const followerJoined = new Promise<void>((resolve) => (joined = resolve));
      h.handle(async (job) => {
        jobs.push(job);
        if (jobs.length > 1) {
          return h.answer(job, `own answer ${jobs.length}`);
        }
        await followerJoined;
        // As a draining worker answers a job whose provider call it cut past its drain (GenerationCancelledError).
        const error: ErrorBody = {
          message: 'The worker shut down before the provider answered; retry the request.',
          type: 'service_unavailable_error',
          code: ErrorCode.ServiceUnavailable,
          param: null,
        };
        await mirror(job, { t: 'error', jobId: job.id ?? '', error, retryAfterMs: 1_000 });
        return h.fail(job, error, 1_000, 'shutdown');
      });
      const prompt = `drained leader ${stream} ${Date.now()}`;
      const leader = ask(prompt, stream);
      await waitFor(() => jobs.length === 1, { message: 'the leader never enqueued' });
      const marker = namesOf(jobs[0]).marker;
      const follower = ask(prompt, stream);
      await waitFor(async () => (await redis.hget(marker, 'n')) === '2', { message: 'the follower never joined' });
      joined();

      const led = await leader;
      expect(led.status).toBe(503);
      expect(await led.text()).toContain('The worker shut down');
      const followed = await follower;
      expect(followed.status).toBe(200);
      expect(followed.headers.get('x-gateway-coalesced')).toBeNull();
      if (stream) {
        const { payloads } = await sseEvents(followed);
        expect(payloads.at(-1)).toBe('[DONE]');
      } else {
        expect(await textOf(followed)).toBe('own answer 2');
      }
      expect(jobs).toHaveLength(2);
      expect(jobs[1].data.request.requestId).toBe(followed.headers.get('x-request-id'));
    }
  }, 30_000);
});
