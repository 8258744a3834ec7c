import { QueueName, type ReplyMessage, type UsageBatch, type UsageEvent } from '@aigw/core';
import { inFlightNames, RedisKeys } from '@aigw/platform';
import { waitFor } from '@aigw/testing';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { chat, GatewayHarness, REDIS_URL, sseEvents, type GenerateJob } from './support';

/**
 * What a coalesced follower (ADR 0007) is accounted: one usage row per request, whichever way its answer ends. The
 * stand-in worker mirrors the job's messages as the real one does (the log, then the job's channel); the gateway's
 * usage events are read from the usage queue, which no worker here consumes.
 */
describe("a coalesced follower's accounting", () => {
  const h = new GatewayHarness({ CACHE_ENABLED: 'true', CACHE_TTL_S: '60' });
  let redis: Redis;
  let keys: RedisKeys;
  let usage: Queue<UsageBatch>;

  beforeAll(async () => {
    await h.start();
    redis = new Redis(REDIS_URL);
    keys = new RedisKeys(h.prefix);
    usage = new Queue<UsageBatch>(QueueName.Usage, { connection: redis, prefix: keys.bullPrefix });
  }, 60_000);

  afterAll(async () => {
    await usage.close();
    await redis.quit();
    await h.stop();
  }, 30_000);

  function namesOf(job: GenerateJob): ReturnType<typeof inFlightNames> {
    return inFlightNames(keys, job.data.coalescingKey ?? '', job.id ?? '');
  }

  /** As the real worker sends a coalesced job's message: mirrored (log, then channel), and to the leader. */
  async function send(job: GenerateJob, msg: ReplyMessage): Promise<void> {
    const names = namesOf(job);
    await redis.rpush(names.log, JSON.stringify(msg));
    await redis.pexpire(names.log, 60_000);
    await redis.publish(names.channel, JSON.stringify(msg));
    await h.publish(job, msg);
  }

  /** The usage events the gateway queued for `requestId`, once `USAGE_LINGER_MS` shipped them (and a while more). */
  async function eventsOf(requestId: string): Promise<UsageEvent[]> {
    const found = (): Promise<UsageEvent[]> =>
      usage
        .getJobs(['waiting', 'delayed', 'prioritized', 'active'])
        .then((jobs) => jobs.flatMap((j) => j.data.events).filter((e) => e.requestId === requestId));
    await waitFor(async () => (await found()).length > 0, { message: `no usage event for ${requestId}` });
    await new Promise((r) => setTimeout(r, 300));
    return found();
  }

  it('a streamed follower whose stream ends in an error (not resumable) has one usage row: the error', async () => {
    const jobs: GenerateJob[] = [];
    h.handle(async (job) => {
      jobs.push(job);
      const jobId = job.id ?? '';
      await waitFor(async () => (await redis.hget(namesOf(job).marker, 'n')) === '2', {
        message: 'the follower never joined',
      });
      const result = h.result(job.data.request, 'a text the stream never started');
      await send(job, h.startMessage(job));
      await send(job, { t: 'chunk', jobId, seq: 0, text: 'first words' });
      // A worker took the job over (the first one died): its run streams another generation, which ends it.
      await send(job, h.startMessage(job, { run: 2 }));
      await send(job, { t: 'end', jobId, result });
      return { ok: true, result };
    });
    const prompt = `not resumable ${Date.now()}`;
    const leader = h.post('/v1/chat/completions', chat(prompt, { stream: true }));
    await waitFor(() => jobs.length === 1, { message: 'the leader never enqueued' });
    const follower = await h.post('/v1/chat/completions', chat(prompt, { stream: true }));
    expect(follower.status).toBe(200);
    expect(follower.headers.get('x-gateway-coalesced')).toBe('true');
    const { payloads } = await sseEvents(follower);
    // The stream ends in an error event: the client got no answer.
    expect(JSON.stringify(payloads.at(-1))).toContain('cannot be resumed');
    await (await leader).text();

    const events = await eventsOf(follower.headers.get('x-request-id') ?? '');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ status: 'error', costUsd: 0, attempts: 0 });
  }, 30_000);
});
