import { createRedis, RedisErrors, RedisFinalWrites, RedisKeys } from '@aigw/platform';
import { deleteRedisKeysOf, ReplyEatingRelay, sleep, TEST_REDIS_URL, uniqueId, waitFor } from '@aigw/testing';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { CacheStats } from '../../apps/api-gateway/src/cache/cache-stats';

/**
 * A replica adds its cache counts to the shared totals once a second. When its connection drops after Redis applied
 * a flush but before the answer came, the flush's outcome is unknown to the replica: ioredis sends the unanswered
 * commands again at the reconnection (`autoResendUnfulfilledCommands`), and a flush ioredis gave up on is retried by
 * the next one. Either way Redis saw the same counts twice, and the totals counted them twice (the MULTI made a flush
 * all-or-nothing, not once-only). Each flush carries the replica's id and a sequence number: one Redis already
 * applied is not applied again.
 */
describe('cache stats flushed again after a dropped connection', () => {
  const ns = uniqueId('cache_stats_resent');
  const keys = new RedisKeys(ns);
  const relay = new ReplyEatingRelay();
  let direct: Redis;
  let relayed: Redis;
  // Each CacheStats' timer is stopped by its final write, as at shutdown.
  const finals: RedisFinalWrites[] = [];

  const totals = async (): Promise<Record<string, string>> => direct.hgetall(keys.key('cache-stats'));

  function statsOn(redis: Redis): CacheStats {
    const finalWrites = new RedisFinalWrites();
    finals.push(finalWrites);
    return new CacheStats(redis, keys, new RedisErrors(), new Registry(), finalWrites);
  }

  beforeAll(async () => {
    await relay.open();
    direct = new Redis(TEST_REDIS_URL);
    // The gateway's own connection settings (retries, reconnection, resending what was unanswered).
    relayed = createRedis(relay.url(), `${ns}:cmd`, new RedisErrors());
    await waitFor(() => relayed.status === 'ready', { timeoutMs: 5_000 });
  });

  afterAll(async () => {
    for (const f of finals) {
      await f.run();
    }
    relayed.disconnect();
    await relay.close();
    await deleteRedisKeysOf(direct, ns);
    await direct.quit();
  });

  beforeEach(async () => {
    await direct.del(keys.key('cache-stats'));
  });

  it('a flush ioredis sends again at the reconnection is counted once', async () => {
    const s = statsOn(relayed);
    // Warm: whatever the flush loads on the connection is there before the flush whose answer is lost.
    s.count('miss');
    await s.flush();
    expect(await totals()).toEqual({ miss: '1' });

    relay.holdReplies = true;
    s.count('hit');
    s.count('hit');
    const flushed = s.flush();
    // Redis applied it; its answer is lost with the connection.
    await waitFor(async () => (await totals()).hit === '2', { timeoutMs: 5_000 });
    relay.drop();
    await flushed;
    await s.flush();
    await waitFor(() => relayed.status === 'ready', { timeoutMs: 5_000 });
    await s.flush();
    expect(await totals()).toEqual({ miss: '1', hit: '2' });

    // Counting goes on as ever after it.
    s.count('hit');
    await s.flush();
    expect(await totals()).toEqual({ miss: '1', hit: '3' });
  }, 20_000);

  it('a flush ioredis gave up on (Redis applied it) is not counted again by the next flush', async () => {
    const s = statsOn(relayed);
    s.count('stale');
    await s.flush();
    expect(await totals()).toEqual({ stale: '1' });

    relay.holdReplies = true;
    s.count('bypass');
    s.count('bypass');
    s.count('bypass');
    const flushed = s.flush();
    await waitFor(async () => (await totals()).bypass === '3', { timeoutMs: 5_000 });
    // The connection drops and cannot come back until ioredis gave up on the flush (maxRetriesPerRequest).
    relay.refuse();
    relay.drop();
    await flushed;
    // Counted meanwhile: these are new, and must be added once.
    s.count('bypass');
    await relay.accept();
    await waitFor(() => relayed.status === 'ready', { timeoutMs: 10_000 });
    await s.flush();
    await s.flush();
    expect(await totals()).toEqual({ stale: '1', bypass: '4' });
  }, 30_000);

  it('a flush ends under steady traffic: what is counted while it is sent waits for the next', async () => {
    const own = new Redis(TEST_REDIS_URL);
    try {
      const s = statsOn(own);
      // A request counted while every flush is on its way (as under steady traffic).
      let counted = 1;
      const send = own.evalsha.bind(own);
      jest.spyOn(own, 'evalsha').mockImplementation((...args: Parameters<Redis['evalsha']>) => {
        s.count('hit');
        counted++;
        return send(...args);
      });
      s.count('hit');
      const ended = await Promise.race([s.flush().then(() => 'ended'), sleep(2_000).then(() => 'still going')]);
      expect(ended).toBe('ended');
      jest.restoreAllMocks();
      await s.flush();
      expect(await totals()).toEqual({ hit: String(counted) });
    } finally {
      jest.restoreAllMocks();
      own.disconnect();
    }
  });

  it('replicas count apart: the flushes of two replicas both add up', async () => {
    const a = statsOn(direct);
    const b = statsOn(direct);
    a.count('hit');
    b.count('hit');
    b.count('miss');
    await Promise.all([a.flush(), b.flush()]);
    a.count('hit');
    await a.flush();
    expect(await totals()).toEqual({ hit: '3', miss: '1' });
  });
});
