import { RedisKeys } from '@aigw/platform';
import { TEST_REDIS_URL, waitFor } from '@aigw/testing';
import { TcpProxy } from './tcp-proxy';
import { WorkerHarness } from './support';

/**
 * The response cache has a fail-fast connection of its own (CACHE_REDIS_URL, else REDIS_URL; 250 ms per command). A
 * cache command past that bound, or a cache Redis that is down, was counted as an outage of the queue's Redis: for
 * the next 30 s and more, every job kept its answer in Redis for an hour (AnswerStash, meant for jobs whose lock may
 * have lapsed), one SET per job and the answers piling up in the queue's `noeviction` Redis. Seen in a soak on a busy
 * host: one cache timeout every few minutes and hundreds of hour-long answers.
 */
describe('router-worker: a slow or absent cache Redis is not an outage of the queue', () => {
  const target = new URL(TEST_REDIS_URL);
  // Every reply of the cache's Redis arrives 400 ms late: each cache command times out.
  const slowCache = new TcpProxy(target.hostname, Number(target.port || 6379), 400);
  let h: WorkerHarness;

  beforeAll(async () => {
    await slowCache.up();
    const cacheUrl = new URL(TEST_REDIS_URL);
    cacheUrl.port = String(slowCache.port);
    h = new WorkerHarness({ env: { CACHE_REDIS_URL: cacheUrl.toString(), RETRY_MAX: '0' } });
    await h.start();
  }, 60_000);

  afterAll(async () => {
    await h?.stop();
    await slowCache.down();
  }, 30_000);

  it("keeps no job's answer in Redis when only the cache's commands failed", async () => {
    const keys = new RedisKeys(h.prefix);
    const cached = await h.enqueueSync({
      cache: { key: 'a'.repeat(64), modelTag: 'sim-gpt', ttlS: 60, maxEntryBytes: 262_144 },
    });
    const [reply] = await h.finalReplies(cached.id!);
    expect(reply.t).toBe('result');
    // The fill failed on the cache's connection and was counted.
    await waitFor(async () => /^aigw_redis_errors_total\{op="cache"\} [1-9]/m.test(await h.metrics()), {
      message: 'the cache fill did not fail',
    });
    const next = await h.enqueueSync();
    expect((await h.finalReplies(next.id!))[0].t).toBe('result');
    for (const job of [cached, next]) {
      // Gone from BullMQ: its handler, and the hand-off that would have stashed the answer, are done.
      await waitFor(async () => (await h.queue.getJob(job.id!)) === undefined, { message: 'job not removed' });
      expect({ job: job.id, stashed: await h.producer.exists(keys.key('answer', job.id!)) }).toEqual({
        job: job.id,
        stashed: 0,
      });
    }
  }, 30_000);
});
