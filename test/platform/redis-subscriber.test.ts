import { closeRedis, createRedis, RedisErrors } from '@aigw/platform';
import { sleep, TEST_REDIS_URL, uniqueId } from '@aigw/testing';
import { Redis } from 'ioredis';

/**
 * A `subscriber` connection (the gateway's reply channel) keeps a SUBSCRIBE issued while it is still handshaking,
 * on its first connection and on a reconnection. With ioredis 5's ready check, both cases acknowledge the
 * SUBSCRIBE and then lose it: PUBSUB NUMSUB reads 0 and nothing published arrives. With `subscriber: false` both
 * tests below fail. A gateway that started this way received no replies, and got every answer from its 2 s
 * read-back of the stored job.
 */
describe('createRedis subscriber: a SUBSCRIBE sent during the handshake holds', () => {
  const errors = new RedisErrors({ warn: () => undefined, log: () => undefined });
  let probe: Redis;
  const open: Redis[] = [];

  beforeAll(() => {
    probe = new Redis(TEST_REDIS_URL);
  });

  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => closeRedis(c)));
  });

  afterAll(() => probe.quit());

  function subscriberConnection(name = uniqueId('sub')): Redis {
    const conn = createRedis(TEST_REDIS_URL, name, errors, { subscriber: true });
    open.push(conn);
    return conn;
  }

  /** Publishes on `channel` until `conn` receives it (a reconnection may still be settling), or fails after 2 s. */
  async function delivered(conn: Redis, channel: string): Promise<boolean> {
    const deadline = Date.now() + 2_000;
    let got = false;
    const onMessage = (ch: string): void => {
      got ||= ch === channel;
    };
    conn.on('message', onMessage);
    try {
      while (!got && Date.now() < deadline) {
        await probe.publish(channel, 'ping');
        await sleep(50);
      }
    } finally {
      conn.off('message', onMessage);
    }
    return got;
  }

  async function subscribers(channel: string): Promise<number> {
    const [, n] = (await probe.pubsub('NUMSUB', channel)) as [string, number];
    return Number(n);
  }

  it('on its first connection', async () => {
    const channel = uniqueId('reply');
    const conn = subscriberConnection();
    const subscribed = new Promise<unknown>((resolve, reject) => {
      // 'connect': the socket is open and the handshake has started, so ioredis writes the SUBSCRIBE at once.
      conn.once('connect', () => void conn.subscribe(channel).then(resolve, reject));
    });
    await subscribed;
    // Without the fix the first message may still arrive: the connection is torn down when the ready check fails,
    // a few ms after the handshake. So the checks come once it has settled.
    await sleep(300);
    expect(conn.status).toBe('ready');
    expect(await subscribers(channel)).toBe(1);
    expect(await delivered(conn, channel)).toBe(true);
  });

  it('on a reconnection, beside the subscriptions it restores', async () => {
    const kept = uniqueId('reply');
    const added = uniqueId('follow');
    const name = uniqueId('sub');
    const conn = subscriberConnection(name);
    await conn.subscribe(kept);
    const id = /(?:^|\n)id=(\d+) [^\n]*name=(\S+)/g;
    const clients = String(await probe.client('LIST'));
    const ours = [...clients.matchAll(id)].find((m) => m[2] === name)?.[1];
    expect(ours).toBeDefined();

    const subscribed = new Promise<unknown>((resolve, reject) => {
      conn.once('connect', () => void conn.subscribe(added).then(resolve, reject));
    });
    // Only this test's own connection is dropped; the shared Redis stays up.
    await probe.client('KILL', 'ID', ours!);
    await subscribed;
    await sleep(300);

    expect(await delivered(conn, added)).toBe(true);
    expect(await delivered(conn, kept)).toBe(true);
    expect(await subscribers(added)).toBe(1);
    expect(await subscribers(kept)).toBe(1);
  });
});
