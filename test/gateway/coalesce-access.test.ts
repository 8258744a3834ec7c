import type { ReplyMessage } from '@aigw/core';
import { ApiKeyStore } from '@aigw/entities';
import { inFlightNames, RedisKeys } from '@aigw/platform';
import { waitFor } from '@aigw/testing';
import { Redis } from 'ioredis';
import { chat, GatewayHarness, REDIS_URL, type GenerateJob } from './support';

/**
 * Coalescing (ADR 0007) never hands a key an answer from a deployment its allow-list forbids. The cache key's access
 * material (`cacheAccessOf`) is read off this gateway's catalog; the worker routes the leader's job by its own
 * catalog and the leader's allow-list. A key allowed `sim/*` whose list keeps every deployment this gateway sees for
 * `sim-gpt` has no access material (it shares cache entries with everyone), but a worker whose catalog already has
 * another deployment of `sim-gpt` enabled (an admin change this gateway has not read yet) may answer an unrestricted
 * leader from it. The cache checks a hit against the key (`mayServeAnswer`); a follower was given the leader's answer
 * unchecked. The stand-in worker plays the worker with the newer catalog: it answers an unrestricted job from `sim-b`.
 */
describe("coalescing and a key's allow-list", () => {
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

  /** As the worker answers: its reply, mirrored for followers (the log, then the channel). */
  async function reply(job: GenerateJob, provider: string, text: string): Promise<ReplyMessage> {
    const result = h.result(job.data.request, text, { provider });
    const msg: ReplyMessage = { t: 'result', jobId: job.id ?? '', result };
    if (job.data.coalescingKey !== undefined) {
      const names = inFlightNames(keys, job.data.coalescingKey, job.id ?? '');
      await redis.rpush(names.log, JSON.stringify(msg));
      await redis.pexpire(names.log, 60_000);
      await redis.publish(names.channel, JSON.stringify(msg));
    }
    await h.publish(job, msg);
    return msg;
  }

  it('a restricted key never follows an unrestricted call that may be answered by a deployment it may not use', async () => {
    const { key } = await h.app
      .get(ApiKeyStore)
      .create({ userName: `acl-${Date.now()}`, role: 'user', allowedModels: ['sim/*'] });
    const jobs: GenerateJob[] = [];
    h.handle(async (job) => {
      jobs.push(job);
      if (job.data.request.allowedModels === undefined) {
        // The leader's call is in flight until the restricted request joined it or ran a job of its own.
        await waitFor(
          async () =>
            jobs.length > 1 ||
            (job.data.coalescingKey !== undefined &&
              (await redis.hget(inFlightNames(keys, job.data.coalescingKey, '').marker, 'n')) === '2'),
          { timeoutMs: 5_000, intervalMs: 20 },
        ).catch(() => undefined);
        const msg = await reply(job, 'sim-b', 'from sim-b');
        return { ok: true, result: (msg as Extract<ReplyMessage, { t: 'result' }>).result };
      }
      const msg = await reply(job, 'sim', 'from sim');
      return { ok: true, result: (msg as Extract<ReplyMessage, { t: 'result' }>).result };
    });
    const prompt = `acl ${Date.now()}`;
    const leader = h.post('/v1/chat/completions', chat(prompt));
    await waitFor(() => jobs.length === 1, { message: 'the leader never enqueued' });
    const restricted = await h.post('/v1/chat/completions', chat(prompt), h.headers(key));
    expect(restricted.status).toBe(200);
    expect(restricted.headers.get('x-gateway-provider')).toBe('sim');
    expect(restricted.headers.get('x-gateway-coalesced')).toBeNull();
    await restricted.text();
    const led = await leader;
    expect(led.headers.get('x-gateway-provider')).toBe('sim-b');
    await led.text();
  }, 30_000);

  it('requests under the same allow-list still share one call', async () => {
    const { key } = await h.app
      .get(ApiKeyStore)
      .create({ userName: `acl-same-${Date.now()}`, role: 'user', allowedModels: ['sim/*'] });
    const jobs: GenerateJob[] = [];
    h.handle(async (job) => {
      jobs.push(job);
      const marker = inFlightNames(keys, job.data.coalescingKey ?? '', '').marker;
      await waitFor(async () => (await redis.hget(marker, 'n')) === '2', { message: 'the second never joined' });
      const msg = await reply(job, 'sim', 'shared');
      return { ok: true, result: (msg as Extract<ReplyMessage, { t: 'result' }>).result };
    });
    const prompt = `acl same ${Date.now()}`;
    const answers = await Promise.all([0, 1].map(() => h.post('/v1/chat/completions', chat(prompt), h.headers(key))));
    expect(answers.map((r) => r.status)).toEqual([200, 200]);
    expect(answers.filter((r) => r.headers.get('x-gateway-coalesced') === 'true')).toHaveLength(1);
    expect(jobs).toHaveLength(1);
    await Promise.all(answers.map((r) => r.text()));
  }, 30_000);
});
