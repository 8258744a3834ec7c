import { ErrorCode, GatewayError, type GenerationResult, type ReplyMessage } from '@aigw/core';
import { createRedis, LocalReplies, RedisErrors } from '@aigw/platform';
import { TEST_REDIS_URL, uniqueId } from '@aigw/testing';
import { Redis } from 'ioredis';
import { execFileSync } from 'node:child_process';
import { REPLY_PUBLISH_MAX_CHARS, ReplyChannel, UNHEARD_MS } from './reply-channel';
import { ResultJson } from './result-json';

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

  it("sends the deltas of one turn as one `chunks` message after the turn's callbacks, behind the start and the first content", async () => {
    const { reply, got } = channel('job-b1');
    reply.onStart(head);
    reply.onChunk({ text: 'Hel' });
    // The first content after `start` goes at once (the gateway opens the stream on it), before the turn's callbacks:
    // handed over as the start is (in a microtask), while the deltas read with it wait for the turn's end.
    await Promise.resolve();
    expect(got).toEqual([
      { t: 'start', jobId: 'job-b1', ...head },
      { t: 'chunk', jobId: 'job-b1', seq: 0, text: 'Hel' },
    ]);
    reply.onChunk({ text: 'lo' });
    reply.onChunk({ text: '!', finishReason: 'stop', toolCalls: [{ index: 0, name: 'f' }] });
    await new Promise((resolve) => setImmediate(resolve));
    expect(got.slice(2)).toEqual([
      {
        t: 'chunks',
        jobId: 'job-b1',
        seq: 1,
        pieces: [{ text: 'lo' }, { text: '!', finishReason: 'stop', toolCalls: [{ index: 0, name: 'f' }] }],
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

/**
 * What Redis holds in `key` right now, read by another process while this one's turn goes on: a command this process
 * issued is there only if it left the process (a corked socket holds it until the end of the turn).
 */
function listNow(key: string): string[] {
  const script = `
    const Redis = require(${JSON.stringify(require.resolve('ioredis'))}).Redis;
    const r = new Redis(${JSON.stringify(TEST_REDIS_URL)});
    r.lrange(${JSON.stringify(key)}, 0, -1).then((v) => { process.stdout.write(JSON.stringify(v)); r.disconnect(); });
  `;
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10_000 })) as string[];
}

describe("ReplyChannel on the worker's corked command connection (the stream's first event)", () => {
  const errors = new RedisErrors({ warn: () => undefined, log: () => undefined });
  const redis = createRedis(TEST_REDIS_URL, 'reply-channel-spec', errors, { corkPerTurn: true });
  const prefix = uniqueId('reply_first');
  beforeAll(async () => {
    await redis.ping();
  });
  afterAll(async () => {
    await redis.del(`${prefix}:log`);
    redis.disconnect();
  });

  it('sends `start` and the first content before the rest of the turn runs; later deltas still batch', async () => {
    const names = { marker: `${prefix}:m`, log: `${prefix}:log`, channel: `${prefix}:c` };
    const reply = new ReplyChannel(redis, `${prefix}:reply`, 'job-f1', {
      mirror: { names, ttlMs: 60_000 },
      batchChunks: true,
    });
    // As a worker's turn goes that read a whole short answer at once: the start, the first delta, then the others.
    reply.onStart(head);
    reply.onChunk({ text: 'Hel' });
    // Still in the same turn (the rest of the answer, its result, its outcome and the job's completion would run
    // here): the first content is in Redis already, for the gateway to open the stream with.
    const sentAtOnce = listNow(names.log).map((m) => JSON.parse(m) as ReplyMessage);
    reply.onChunk({ text: 'lo' });
    reply.onChunk({ text: '!', finishReason: 'stop' });
    expect(sentAtOnce).toEqual([
      { t: 'start', jobId: 'job-f1', ...head },
      { t: 'chunk', jobId: 'job-f1', seq: 0, text: 'Hel' },
    ]);
    await expect(reply.settle()).resolves.toBeUndefined();
    const all = (await redis.lrange(names.log, 0, -1)).map((m) => JSON.parse(m) as ReplyMessage);
    expect(all.slice(2)).toEqual([
      { t: 'chunks', jobId: 'job-f1', seq: 1, pieces: [{ text: 'lo' }, { text: '!', finishReason: 'stop' }] },
    ]);
  });
});

describe('ReplyChannel: a message over REPLY_PUBLISH_MAX_CHARS (Redis drops a subscriber it would overflow)', () => {
  const redis = deadRedis();
  afterAll(() => redis.disconnect());
  afterEach(() => jest.restoreAllMocks());

  const huge = 'x'.repeat(REPLY_PUBLISH_MAX_CHARS);
  // Only the field that makes it big: the channel serialises a result without reading it.
  const bigResult = { text: huge } as unknown as GenerationResult;

  function published(spy: jest.SpyInstance): unknown[] {
    return spy.mock.calls.map((call: unknown[]) => JSON.parse(String(call[1])) as unknown);
  }

  it('publishes a final reply as `stored`, and only once the outcome is kept', async () => {
    const publish = jest.spyOn(redis, 'publish');
    const reply = new ReplyChannel(redis, 'aigw:reply:gw', 'job-o1');
    reply.send({ t: 'result', jobId: 'job-o1', result: bigResult });
    let keep!: () => void;
    const kept = new Promise<void>((resolve) => (keep = resolve));
    const settled = reply.settle(kept);
    await new Promise((resolve) => setImmediate(resolve));
    expect(publish).not.toHaveBeenCalled();
    keep();
    await settled;
    expect(published(publish)).toEqual([{ t: 'stored', jobId: 'job-o1' }]);
  });

  it("says in `stored` how many chunk seqs a stream's chunks used, as `end` would have", async () => {
    const publish = jest.spyOn(redis, 'publish').mockResolvedValue(1);
    const reply = new ReplyChannel(redis, 'aigw:reply:gw', 'job-o5');
    reply.onChunk({ text: 'Hel' });
    reply.onChunk({ text: 'lo' });
    reply.send({ t: 'end', jobId: 'job-o5', result: bigResult });
    await reply.settle();
    expect(published(publish).at(-1)).toEqual({ t: 'stored', jobId: 'job-o5', chunks: 2 });
  });

  it('sends nothing in place of a final reply whose outcome was never kept (the job runs again)', async () => {
    const publish = jest.spyOn(redis, 'publish');
    const reply = new ReplyChannel(redis, 'aigw:reply:gw', 'job-o2');
    reply.send({ t: 'end', jobId: 'job-o2', result: bigResult });
    await reply.settle(Promise.reject(new Error('abandoned')));
    expect(publish).not.toHaveBeenCalled();
  });

  it('splits a `chunks` message into one `chunk` per piece, a piece too big by itself cut, later seqs pushed on', async () => {
    const publish = jest.spyOn(redis, 'publish');
    const reply = new ReplyChannel(redis, 'aigw:reply:gw', 'job-o3', { batchChunks: true });
    reply.onChunk({ text: 'a' });
    reply.onChunk({ text: huge });
    reply.onChunk({ text: 'c' });
    await reply.settle();
    reply.onChunk({ text: 'd' });
    await reply.settle();
    const got = published(publish) as { seq: number; text: string }[];
    expect(got.map((m) => m.seq)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(got.map((m) => m.text).join('') === `a${huge}cd`).toBe(true);
    expect(Math.max(...publish.mock.calls.map((call: unknown[]) => String(call[1]).length))).toBeLessThan(
      REPLY_PUBLISH_MAX_CHARS,
    );
  });

  it("cuts a lone `chunk` too big to publish: a tool call's arguments reach the gateway whole", async () => {
    const publish = jest.spyOn(redis, 'publish');
    const reply = new ReplyChannel(redis, 'aigw:reply:gw', 'job-o5');
    reply.onChunk({ text: '', toolCalls: [{ index: 0, id: 'call_1', name: 'save', arguments: '' }] });
    reply.onChunk({ text: '', toolCalls: [{ index: 0, arguments: huge }], finishReason: 'tool_calls' });
    reply.onChunk({ text: '', finishReason: null });
    await reply.settle();
    const got = published(publish) as { seq: number; toolCalls?: { arguments?: string }[]; finishReason?: string }[];
    expect(got.map((m) => m.seq)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(got.map((m) => m.toolCalls?.[0]?.arguments ?? '').join('') === huge).toBe(true);
    expect(got[8].finishReason).toBe('tool_calls');
  });

  it('hands it whole to a gateway in this process; the mirror gets `stored` once the outcome is kept', async () => {
    const local = new LocalReplies();
    const got: ReplyMessage[] = [];
    local.register('aigw:reply:here', (m) => got.push(m));
    const names = { marker: 'm', log: 'l', channel: 'c' };
    const rpush = jest.spyOn(redis, 'rpush');
    const publish = jest.spyOn(redis, 'publish');
    const reply = new ReplyChannel(redis, 'aigw:reply:here', 'job-o4', { mirror: { names, ttlMs: 1000 }, local });
    const final: ReplyMessage = { t: 'result', jobId: 'job-o4', result: bigResult };
    reply.send(final);
    expect(rpush).not.toHaveBeenCalled();
    await reply.settle(Promise.resolve());
    // The very message built (compared by identity: a failed match would print a megabyte).
    expect(got.length === 1 && got[0] === final).toBe(true);
    const stored = JSON.stringify({ t: 'stored', jobId: 'job-o4' });
    expect(rpush).toHaveBeenCalledWith('l', stored);
    expect(publish.mock.calls).toEqual([['c', stored]]);
  });
});

describe("ReplyChannel's end of a stream", () => {
  const redis = deadRedis();
  afterAll(() => redis.disconnect());

  it('says how many chunk seqs went out, so a gateway that lost the last ones knows', async () => {
    const local = new LocalReplies();
    const got: ReplyMessage[] = [];
    local.register('aigw:reply:here', (m) => got.push(m));
    const reply = new ReplyChannel(redis, 'aigw:reply:here', 'job-e1', { local, batchChunks: true });
    reply.onStart(head);
    reply.onChunk({ text: 'Hel' });
    reply.onChunk({ text: 'lo' });
    const result = { text: 'Hello' } as GenerationResult;
    const end: ReplyMessage = { t: 'end', jobId: 'job-e1', result };
    reply.send(end);
    await reply.settle();
    expect(got.at(-1)).toEqual({ t: 'end', jobId: 'job-e1', result, chunks: 2 });
    // The message handed in is left as it was.
    expect(end).toEqual({ t: 'end', jobId: 'job-e1', result });

    // An end with no chunk before it (a kept outcome sent again) says nothing more.
    const replay = new ReplyChannel(redis, 'aigw:reply:here', 'job-e2', { local });
    replay.send({ t: 'end', jobId: 'job-e2', result });
    await replay.settle();
    expect(got.at(-1)).toEqual({ t: 'end', jobId: 'job-e2', result });
  });
});

describe('ReplyChannel.sendResult: the final reply with its result serialised once (ResultJson)', () => {
  const redis = deadRedis();
  afterAll(() => redis.disconnect());
  afterEach(() => jest.restoreAllMocks());

  const result = { requestId: 'req_1', text: 'hé "x"\n', attempts: [] } as unknown as GenerationResult;

  it('publishes and mirrors the text `send` would, for `result` and `end`', async () => {
    const names = { marker: 'm', log: 'l', channel: 'c' };
    for (const t of ['result', 'end'] as const) {
      const publish = jest.spyOn(redis, 'publish');
      const rpush = jest.spyOn(redis, 'rpush');
      const reply = new ReplyChannel(redis, 'aigw:reply:gw', 'job-r1', { mirror: { names, ttlMs: 1000 } });
      reply.sendResult(t, new ResultJson(result));
      await reply.settle();
      const text = JSON.stringify({ t, jobId: 'job-r1', result });
      expect(rpush).toHaveBeenCalledWith('l', text);
      expect(publish.mock.calls).toEqual([
        ['c', text],
        ['aigw:reply:gw', text],
      ]);
      jest.restoreAllMocks();
    }
  });

  it("gives a stream's end the count of its chunks, published and in process, as `send` does", async () => {
    const publish = jest.spyOn(redis, 'publish');
    const reply = new ReplyChannel(redis, 'aigw:reply:gw', 'job-r4');
    reply.onStart(head);
    reply.onChunk({ text: 'Hel' });
    reply.onChunk({ text: 'lo' });
    reply.sendResult('end', new ResultJson(result));
    await reply.settle();
    expect(publish.mock.calls.at(-1)).toEqual([
      'aigw:reply:gw',
      JSON.stringify({ t: 'end', jobId: 'job-r4', result, chunks: 2 }),
    ]);

    const local = new LocalReplies();
    const got: ReplyMessage[] = [];
    local.register('aigw:reply:here', (m) => got.push(m));
    const here = new ReplyChannel(redis, 'aigw:reply:here', 'job-r5', { local });
    here.onStart(head);
    here.onChunk({ text: 'Hello' });
    here.sendResult('end', new ResultJson(result));
    await here.settle();
    expect(got.at(-1)).toEqual({ t: 'end', jobId: 'job-r5', result, chunks: 1 });
  });

  it('hands the message to a gateway in this process unserialised, its result the very object', async () => {
    const local = new LocalReplies();
    const got: ReplyMessage[] = [];
    local.register('aigw:reply:here', (m) => got.push(m));
    const stringify = jest.spyOn(JSON, 'stringify');
    const reply = new ReplyChannel(redis, 'aigw:reply:here', 'job-r2', { local });
    reply.sendResult('result', new ResultJson(result));
    await reply.settle();
    expect(stringify).not.toHaveBeenCalled();
    expect(got).toEqual([{ t: 'result', jobId: 'job-r2', result }]);
    expect(got[0].t === 'result' && got[0].result === result).toBe(true);
  });

  it('holds a result too big to publish and sends `stored` once the outcome is kept', async () => {
    const publish = jest.spyOn(redis, 'publish');
    const reply = new ReplyChannel(redis, 'aigw:reply:gw', 'job-r3');
    const big = { text: 'x'.repeat(REPLY_PUBLISH_MAX_CHARS) } as unknown as GenerationResult;
    reply.sendResult('result', new ResultJson(big));
    await reply.settle(Promise.resolve());
    expect(publish.mock.calls).toEqual([['aigw:reply:gw', JSON.stringify({ t: 'stored', jobId: 'job-r3' })]]);
  });
});

describe('ReplyChannel whose gateway stopped listening (onUnheard)', () => {
  const redis = deadRedis();
  afterAll(() => redis.disconnect());
  afterEach(() => jest.restoreAllMocks());

  /** A channel whose PUBLISHes reach `receivers()` subscribers (at the time `at` set); its onUnheard calls. */
  function channel(receivers: (channel: string) => number, opts: { mirrored?: boolean } = {}) {
    jest.spyOn(redis, 'publish').mockImplementation((ch: string | Buffer) => Promise.resolve(receivers(String(ch))));
    const calls: number[] = [];
    const names = { marker: 'm', log: 'l', channel: 'c' } as never;
    const reply = new ReplyChannel(redis, 'aigw:reply:gw', 'job-u', {
      onUnheard: () => calls.push(1),
      mirror: opts.mirrored === true ? { names, ttlMs: 1000 } : null,
    });
    return { reply, calls };
  }

  function at(ms: number): void {
    jest.spyOn(Date, 'now').mockReturnValue(ms);
  }

  it('is told once when every publish for UNHEARD_MS reached nobody', async () => {
    const { reply, calls } = channel(() => 0);
    at(1_000);
    reply.onStart(head);
    await reply.settle();
    at(1_000 + UNHEARD_MS - 1);
    reply.onChunk({ text: 'a' });
    await reply.settle();
    expect(calls).toHaveLength(0);
    at(1_000 + UNHEARD_MS);
    reply.onChunk({ text: 'b' });
    reply.onChunk({ text: 'c' });
    await reply.settle();
    expect(calls).toHaveLength(1);
  });

  it('is not told when a publish reached the gateway again meanwhile (its subscriber reconnected)', async () => {
    let n = 0;
    const { reply, calls } = channel(() => n);
    at(1_000);
    reply.onStart(head);
    await reply.settle();
    n = 1;
    at(5_000);
    reply.onChunk({ text: 'a' });
    await reply.settle();
    n = 0;
    at(6_000);
    reply.onChunk({ text: 'b' });
    await reply.settle();
    at(1_000 + UNHEARD_MS);
    reply.onChunk({ text: 'c' });
    await reply.settle();
    expect(calls).toHaveLength(0);
  });

  it('is not told once the final message went out', async () => {
    const { reply, calls } = channel(() => 0);
    at(1_000);
    reply.onStart(head);
    await reply.settle();
    at(1_000 + UNHEARD_MS);
    reply.send({ t: 'error', jobId: 'job-u', error: new GatewayError(ErrorCode.Internal, 'x').toBody() });
    await reply.settle();
    expect(calls).toHaveLength(0);
  });

  it.each([
    ['is not told while a follower hears its mirror', 1, 0],
    ['is told when neither its gateway nor a follower hears it', 0, 1],
  ])('a coalesced job %s', async (_label, followers, told) => {
    const { reply, calls } = channel((ch) => (ch === 'c' ? followers : 0), { mirrored: true });
    jest.spyOn(redis, 'rpush').mockResolvedValue(1);
    jest.spyOn(redis, 'pexpire').mockResolvedValue(1);
    at(1_000);
    reply.onStart(head);
    await reply.settle();
    at(1_000 + UNHEARD_MS);
    reply.onChunk({ text: 'a' });
    await reply.settle();
    expect(calls).toHaveLength(told);
  });
});
