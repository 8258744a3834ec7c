import { createRedis, RedisErrors } from '@aigw/platform';
import { PrivateRedis, uniqueId } from '@aigw/testing';
import { Redis } from 'ioredis';
import type { Writable } from 'node:stream';

const quiet = { warn: (): void => undefined, log: (): void => undefined };

/**
 * The command connection's `corkPerTurn`: commands issued by separate callbacks of one event-loop turn leave in one
 * socket write, each with its own reply. A Redis of the test's own: its read counter is this test's.
 */
describe('createRedis corkPerTurn: one write per turn of the event loop', () => {
  const server = new PrivateRedis();
  let admin: Redis;
  const open: Redis[] = [];

  async function readsProcessed(): Promise<number> {
    const info = await admin.info('stats');
    return Number(/^total_reads_processed:(\d+)/m.exec(info)?.[1]);
  }

  /** Counts the writes the connection's socket hands to the OS from now on (one per `_write` or `_writev`). */
  function socketWrites(conn: Redis): () => number {
    const socket = conn.stream as Writable;
    let writes = 0;
    const write = socket._write.bind(socket);
    socket._write = (chunk, encoding, done) => {
      writes++;
      write(chunk, encoding, done);
    };
    const writev = socket._writev?.bind(socket);
    if (writev !== undefined) {
      socket._writev = (chunks, done) => {
        writes++;
        writev(chunks, done);
      };
    }
    return () => writes;
  }

  /** INCRs `key` from `n` timer callbacks that expire in the same turn; resolves to their replies. */
  function fromSeparateCallbacks(conn: Redis, key: string, n: number): Promise<number[]> {
    return new Promise((resolve, reject) => {
      const replies: Promise<number>[] = [];
      for (let i = 0; i < n; i++) {
        setTimeout(() => {
          replies.push(conn.incr(key));
          if (replies.length === n) {
            Promise.all(replies).then(resolve, reject);
          }
        }, 0);
      }
    });
  }

  async function connection(corkPerTurn: boolean): Promise<Redis> {
    const conn = createRedis(server.url, uniqueId('cork'), new RedisErrors(quiet), { corkPerTurn });
    open.push(conn);
    await conn.ping();
    return conn;
  }

  beforeAll(async () => {
    await server.start();
    admin = new Redis(server.url);
  }, 30_000);

  afterAll(async () => {
    for (const conn of open) {
      conn.disconnect();
    }
    admin.disconnect();
    await server.stop();
  });

  it('sends the commands of ten callbacks in one write, each with its own reply', async () => {
    const conn = await connection(true);
    const key = uniqueId('k');
    const writes = socketWrites(conn);
    const before = await readsProcessed();
    const replies = await fromSeparateCallbacks(conn, key, 10);
    // One write (two if the timers straddled a millisecond and ran in two turns); Redis read it at once: our INFO
    // and one read for the ten INCRs.
    expect(writes()).toBeLessThanOrEqual(2);
    expect((await readsProcessed()) - before).toBeLessThanOrEqual(3);
    expect([...replies].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('without it, each callback writes on its own', async () => {
    const conn = await connection(false);
    const writes = socketWrites(conn);
    await fromSeparateCallbacks(conn, uniqueId('k'), 10);
    expect(writes()).toBe(10);
  });

  it('a command that fails fails alone', async () => {
    const conn = await connection(true);
    const key = uniqueId('k');
    await admin.set(key, 'not a number');
    const [bad, good] = await Promise.allSettled([conn.incr(key), conn.incr(uniqueId('k'))]);
    expect(bad.status).toBe('rejected');
    expect(good).toEqual({ status: 'fulfilled', value: 1 });
  });
});
