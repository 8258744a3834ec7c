import { ErrorCode, GatewayError, type ReplyMessage } from '@aigw/core';
import { LocalReplies } from '@aigw/platform';
import { Redis } from 'ioredis';
import { ReplyChannel } from './reply-channel';

/** A client whose every command fails at once: a publish attempt shows up as settle()'s failure. */
function deadRedis(): Redis {
  return new Redis({
    port: 1,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    disconnectTimeout: 10,
  });
}

const head = { provider: 'sim', model: 'sim-gpt', route: 'direct' as const, id: 'chatcmpl-1', created: 1, attempts: 1 };

describe('ReplyChannel with a gateway in the same process (ADR 0010)', () => {
  const redis = deadRedis();
  afterAll(() => redis.disconnect());

  it('hands a stream to the local channel in order, as built, and publishes nothing', async () => {
    const local = new LocalReplies();
    const got: ReplyMessage[] = [];
    local.register('aigw:reply:here', (m) => got.push(m));
    const reply = new ReplyChannel(redis, 'aigw:reply:here', 'job-1', { local });
    reply.onStart(head);
    reply.onChunk({ text: 'Hel' });
    reply.onChunk({ text: 'lo', finishReason: 'stop', toolCalls: [{ index: 0, name: 'f' }] });
    expect(got).toEqual([]);
    await expect(reply.settle()).resolves.toBeUndefined();
    expect(got).toEqual([
      { t: 'start', jobId: 'job-1', ...head },
      { t: 'chunk', jobId: 'job-1', seq: 0, text: 'Hel' },
      { t: 'chunk', jobId: 'job-1', seq: 1, text: 'lo', finishReason: 'stop', toolCalls: [{ index: 0, name: 'f' }] },
    ]);
  });

  it("publishes a reply to another instance's channel, as before", async () => {
    const local = new LocalReplies();
    local.register('aigw:reply:here', () => undefined);
    const reply = new ReplyChannel(redis, 'aigw:reply:elsewhere', 'job-2', { local });
    reply.onChunk({ text: 'x' });
    await expect(reply.settle()).resolves.toBeInstanceOf(Error);
  });

  it('still mirrors a coalesced job through Redis for followers on other replicas', async () => {
    const local = new LocalReplies();
    const got: ReplyMessage[] = [];
    local.register('aigw:reply:here', (m) => got.push(m));
    const names = { marker: 'm', log: 'l', channel: 'c' };
    const reply = new ReplyChannel(redis, 'aigw:reply:here', 'job-3', { mirror: { names, ttlMs: 1000 }, local });
    const mirrored = jest.spyOn(redis, 'rpush');
    reply.onChunk({ text: 'x' });
    await reply.settle();
    expect(got).toHaveLength(1);
    expect(mirrored).toHaveBeenCalledWith('l', JSON.stringify(got[0]));
  });
});

describe('ReplyChannel with batchChunks', () => {
  const redis = deadRedis();
  afterAll(() => redis.disconnect());

  function channel(jobId: string): { reply: ReplyChannel; got: ReplyMessage[] } {
    const local = new LocalReplies();
    const got: ReplyMessage[] = [];
    local.register('aigw:reply:here', (m) => got.push(m));
    return { reply: new ReplyChannel(redis, 'aigw:reply:here', jobId, { local, batchChunks: true }), got };
  }

  it("sends the deltas of one turn as one `chunks` message after the turn's callbacks, behind the start", async () => {
    const { reply, got } = channel('job-b1');
    reply.onStart(head);
    reply.onChunk({ text: 'Hel' });
    await Promise.resolve();
    reply.onChunk({ text: 'lo', finishReason: 'stop', toolCalls: [{ index: 0, name: 'f' }] });
    await new Promise((resolve) => setImmediate(resolve));
    expect(got).toEqual([
      { t: 'start', jobId: 'job-b1', ...head },
      {
        t: 'chunks',
        jobId: 'job-b1',
        seq: 0,
        pieces: [{ text: 'Hel' }, { text: 'lo', finishReason: 'stop', toolCalls: [{ index: 0, name: 'f' }] }],
      },
    ]);
  });

  it('sends a lone delta as a `chunk`, and numbers on across turns', async () => {
    const { reply, got } = channel('job-b2');
    reply.onChunk({ text: 'a' });
    reply.onChunk({ text: 'b' });
    await new Promise((resolve) => setImmediate(resolve));
    reply.onChunk({ text: 'c' });
    await new Promise((resolve) => setImmediate(resolve));
    expect(got).toEqual([
      { t: 'chunks', jobId: 'job-b2', seq: 0, pieces: [{ text: 'a' }, { text: 'b' }] },
      { t: 'chunk', jobId: 'job-b2', seq: 2, text: 'c' },
    ]);
  });

  it('sends pending deltas before a final message sent in the same turn', async () => {
    const { reply, got } = channel('job-b3');
    reply.onChunk({ text: 'a' });
    reply.onChunk({ text: 'b' });
    reply.send({
      t: 'error',
      jobId: 'job-b3',
      error: new GatewayError(ErrorCode.Internal, 'x').toBody(),
    });
    await reply.settle();
    expect(got.map((m) => m.t)).toEqual(['chunks', 'error']);
  });
});
