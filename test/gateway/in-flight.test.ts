import { ErrorCode, GatewayError, type ReplyMessage } from '@aigw/core';
import { inFlightNames, joinInFlight, leaveInFlight, RedisKeys, releaseInFlight } from '@aigw/platform';
import { deleteRedisKeysOf, uniqueId } from '@aigw/testing';
import { Redis } from 'ioredis';
import { ReplyChannel } from '../../apps/router-worker/src/jobs/reply-channel';
import { REDIS_URL } from '../e2e/harness';

/** The in-flight markers and reply mirror of coalesced jobs (ADR 0007) against a real Redis. */
describe('in-flight markers (real Redis)', () => {
  const prefix = uniqueId('inflight');
  const keys = new RedisKeys(prefix);
  let redis: Redis;

  beforeAll(() => {
    redis = new Redis(REDIS_URL);
  });

  afterAll(async () => {
    await deleteRedisKeysOf(redis, prefix);
    await redis.quit();
  });

  it('the first request leads; the others get its job id; the last one leaving may cancel', async () => {
    const key = uniqueId('k');
    const lead = inFlightNames(keys, key, 'job-a');
    expect(await joinInFlight(redis, lead, 'job-a', 10_000)).toBeNull();
    expect(await joinInFlight(redis, inFlightNames(keys, key, 'job-b'), 'job-b', 10_000)).toBe('job-a');
    expect(await joinInFlight(redis, inFlightNames(keys, key, 'job-c'), 'job-c', 10_000)).toBe('job-a');
    expect(await redis.pttl(lead.marker)).toBeGreaterThan(9_000);

    expect(await leaveInFlight(redis, lead, 'job-a')).toBe(false);
    expect(await leaveInFlight(redis, lead, 'job-a')).toBe(false);
    expect(await leaveInFlight(redis, lead, 'job-a')).toBe(true);
    // Nobody joins a job about to be cancelled: the next request leads a job of its own.
    expect(await redis.exists(lead.marker)).toBe(0);
    expect(await joinInFlight(redis, inFlightNames(keys, key, 'job-d'), 'job-d', 10_000)).toBeNull();
  });

  it("a leader's join run twice (resent after a reconnect) still leads, counted once", async () => {
    const lead = inFlightNames(keys, uniqueId('k'), 'job-a');
    expect(await joinInFlight(redis, lead, 'job-a', 10_000)).toBeNull();
    expect(await joinInFlight(redis, lead, 'job-a', 10_000)).toBeNull();
    expect(await redis.hget(lead.marker, 'n')).toBe('1');
    expect(await leaveInFlight(redis, lead, 'job-a')).toBe(true);
  });

  it("a job's end releases its marker only; leaving an ended job cancels nothing", async () => {
    const key = uniqueId('k');
    const a = inFlightNames(keys, key, 'job-a');
    expect(await joinInFlight(redis, a, 'job-a', 10_000)).toBeNull();
    await releaseInFlight(redis, a, 'job-a');
    expect(await leaveInFlight(redis, a, 'job-a')).toBe(false);

    const b = inFlightNames(keys, key, 'job-b');
    expect(await joinInFlight(redis, b, 'job-b', 10_000)).toBeNull();
    // A late release of an older job leaves the new one alone.
    await releaseInFlight(redis, a, 'job-a');
    expect(await joinInFlight(redis, inFlightNames(keys, key, 'job-c'), 'job-c', 10_000)).toBe('job-b');
  });

  it("the worker mirrors a coalesced job's replies: log first, then its channel; the end releases the marker", async () => {
    const key = uniqueId('k');
    const names = inFlightNames(keys, key, 'job-m');
    expect(await joinInFlight(redis, names, 'job-m', 10_000)).toBeNull();
    const sub = new Redis(REDIS_URL);
    const live: ReplyMessage[] = [];
    sub.on('message', (_c: string, m: string) => live.push(JSON.parse(m) as ReplyMessage));
    await sub.subscribe(names.channel);
    try {
      const reply = new ReplyChannel(redis, keys.replyChannel('gw'), 'job-m', { mirror: { names, ttlMs: 5_000 } });
      reply.onStart({ provider: 'p', model: 'm', route: 'direct', attempts: 1, id: 'c', created: 1 });
      reply.onChunk({ text: 'hel' });
      reply.onChunk({ text: 'lo' });
      expect(await reply.settle()).toBeUndefined();
      expect(await redis.exists(names.marker)).toBe(1);
      reply.send({
        t: 'error',
        jobId: 'job-m',
        error: new GatewayError(ErrorCode.Internal, 'x').toBody(),
      });
      expect(await reply.settle()).toBeUndefined();

      const log = (await redis.lrange(names.log, 0, -1)).map((m) => JSON.parse(m) as ReplyMessage);
      expect(log.map((m) => m.t)).toEqual(['start', 'chunk', 'chunk', 'error']);
      expect(await redis.pttl(names.log)).toBeGreaterThan(4_000);
      expect(await redis.exists(names.marker)).toBe(0);
      await new Promise((r) => setTimeout(r, 50));
      expect(live).toEqual(log);
    } finally {
      await sub.quit();
    }
  });

  it("with batchChunks, a turn's deltas are mirrored as one `chunks` message; the marker stays until the end", async () => {
    const names = inFlightNames(keys, uniqueId('k'), 'job-b');
    expect(await joinInFlight(redis, names, 'job-b', 10_000)).toBeNull();
    const reply = new ReplyChannel(redis, keys.replyChannel('gw'), 'job-b', {
      mirror: { names, ttlMs: 5_000 },
      batchChunks: true,
    });
    reply.onStart({ provider: 'p', model: 'm', route: 'direct', attempts: 1, id: 'c', created: 1 });
    // The first content leaves at once (the stream's first event waits for it); the rest of the turn batches.
    reply.onChunk({ text: 'hel' });
    reply.onChunk({ text: 'lo' });
    reply.onChunk({ text: '?', finishReason: 'stop' });
    expect(await reply.settle()).toBeUndefined();
    expect(await redis.exists(names.marker)).toBe(1);
    reply.onChunk({ text: '!' });
    reply.send({ t: 'error', jobId: 'job-b', error: new GatewayError(ErrorCode.Internal, 'x').toBody() });
    expect(await reply.settle()).toBeUndefined();
    const log = (await redis.lrange(names.log, 0, -1)).map((m) => JSON.parse(m) as ReplyMessage);
    expect(log.slice(1, 4)).toEqual([
      { t: 'chunk', jobId: 'job-b', seq: 0, text: 'hel' },
      { t: 'chunks', jobId: 'job-b', seq: 1, pieces: [{ text: 'lo' }, { text: '?', finishReason: 'stop' }] },
      { t: 'chunk', jobId: 'job-b', seq: 3, text: '!' },
    ]);
    expect(log.map((m) => m.t)).toEqual(['start', 'chunk', 'chunks', 'chunk', 'error']);
    expect(await redis.exists(names.marker)).toBe(0);
  });

  it('a job without a reply channel (async) mirrors nothing', async () => {
    const names = inFlightNames(keys, uniqueId('k'), 'job-n');
    const reply = new ReplyChannel(redis, null, 'job-n', { mirror: { names, ttlMs: 5_000 } });
    reply.onChunk({ text: 'x' });
    await reply.settle();
    expect(await redis.exists(names.log)).toBe(0);
    expect(await reply.settle()).toBeUndefined();
  });
});
