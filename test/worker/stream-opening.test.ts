import type { ReplyMessage } from '@aigw/core';
import { createRedis, RedisErrors } from '@aigw/platform';
import { socketWrites, uniqueId, waitFor } from '@aigw/testing';
import { Redis } from 'ioredis';
import { ReplyChannel } from '../../apps/router-worker/src/jobs/reply-channel';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const quiet = { warn: (): void => undefined, log: (): void => undefined };
const head = { provider: 'sim', model: 'sim-gpt', route: 'direct' as const, id: 'chatcmpl-1', created: 1, attempts: 1 };

/**
 * A stream's opening is not held by the worker's per-turn cork: when the provider's first read carries the whole
 * answer, the worker handles every chunk in one turn, and `start` with the first chunk must leave before the rest.
 */
describe('ReplyChannel: the opening of a stream leaves at once', () => {
  let conn: Redis;
  let subscriber: Redis;

  beforeAll(async () => {
    conn = createRedis(REDIS_URL, uniqueId('opening'), new RedisErrors(quiet), { corkPerTurn: true });
    subscriber = new Redis(REDIS_URL);
    await conn.ping();
  });

  afterAll(() => {
    conn.disconnect();
    subscriber.disconnect();
  });

  it('sends start and the first chunk in one write, then the rest of the turn in the next, in order', async () => {
    const channel = uniqueId('reply');
    const got: ReplyMessage[] = [];
    subscriber.on(
      'message',
      (ch: string, payload: string) => ch === channel && got.push(JSON.parse(payload) as ReplyMessage),
    );
    await subscriber.subscribe(channel);
    const { writes } = socketWrites(conn.stream);
    const reply = new ReplyChannel(conn, channel, 'job-1');
    // One turn, as an async iterator over one read of 32 SSE events runs it: a microtask between chunks.
    await new Promise<void>((done) => {
      setTimeout(() => {
        void (async () => {
          reply.onStart(head);
          reply.onChunk({ text: 'c0' });
          for (let i = 1; i < 32; i++) {
            await Promise.resolve();
            reply.onChunk({ text: `c${i}` });
          }
          done();
        })();
      }, 0);
    });
    await expect(reply.settle()).resolves.toBeUndefined();
    expect(writes).toHaveLength(2);
    expect(writes[0]).toContain('"t":"start"');
    expect(writes[0]).toContain('"text":"c0"');
    expect(writes[0]).not.toContain('"text":"c1"');
    expect(writes[1]).toContain('"text":"c31"');
    await waitFor(() => got.length === 33, { timeoutMs: 5_000 });
    expect(got.map((m) => (m.t === 'chunk' ? m.text : m.t))).toEqual([
      'start',
      ...Array.from({ length: 32 }, (_, i) => `c${i}`),
    ]);
  });
});
