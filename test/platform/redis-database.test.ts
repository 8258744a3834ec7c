import { RedisErrors, createRedis, closeRedis, stopOnRefusedDatabase } from '@aigw/platform';
import { PrivateRedis, uniqueId, waitFor } from '@aigw/testing';
import { Redis } from 'ioredis';

/**
 * REDIS_URL's database index must be honoured or nothing may run. ioredis only emits the refusal of its SELECT and
 * carries on in database 0, where another deployment's queues may live: the guard drops the connection before
 * the commands waiting in its offline queue are sent, and stops the process (here: records the message).
 */
describe('a database index Redis refuses (redis-server --databases 2)', () => {
  const redis = new PrivateRedis(['--databases', '2']);
  let probe: Redis;

  beforeAll(async () => {
    await redis.start();
    probe = new Redis(redis.url);
  });

  afterAll(async () => {
    await probe.quit();
    await redis.stop();
  });

  it('stops, naming the variable and the index, before a queued command runs in database 0', async () => {
    const key = uniqueId('db_refused');
    const stopped: string[] = [];
    // The connection createRedis makes, with the guard's stop recorded instead of exiting.
    const client = new Redis({ port: redis.port, host: '127.0.0.1', db: 5, maxRetriesPerRequest: 2 });
    client.on('error', () => undefined);
    stopOnRefusedDatabase(client, 5, 'REDIS_URL', (message) => stopped.push(message));
    const write = client.set(key, 'x').catch((err: Error) => err);

    await waitFor(() => stopped.length > 0, { timeoutMs: 5_000, message: 'the refusal was not seen' });
    expect(stopped[0]).toMatch(/^REDIS_URL selects database 5, which this Redis refuses \(ERR .*\)/);
    expect(await write).toBeInstanceOf(Error);
    await new Promise((r) => setTimeout(r, 200));
    expect(await probe.exists(key)).toBe(0);
    expect(client.status).toBe('end');
  });

  it('leaves a connection to a database the server has alone', async () => {
    const errors = new RedisErrors({ warn: () => undefined, log: () => undefined });
    const client = createRedis(`redis://127.0.0.1:${redis.port}/1`, uniqueId('db1'), errors);
    const key = uniqueId('db_one');
    try {
      await client.set(key, 'x');
      expect(await probe.exists(key)).toBe(0);
      expect(await client.exists(key)).toBe(1);
    } finally {
      await closeRedis(client);
    }
  });
});

/**
 * With a password Redis refuses, the SELECT of a database other than 0 is refused too (NOAUTH): the guard used to
 * stop the process saying the index was refused, which sent operators after the wrong part of REDIS_URL. The login's
 * refusal is the report (the connection reconnects, and a start fails naming the credentials).
 */
describe('a password Redis refuses, with a database other than 0 (redis-server --requirepass)', () => {
  const redis = new PrivateRedis(['--requirepass', 'the-right-one']);

  beforeAll(async () => {
    await redis.start();
  });

  afterAll(async () => {
    await redis.stop();
  });

  it('does not blame the database index', async () => {
    const stopped: string[] = [];
    const seen: string[] = [];
    const client = new Redis({
      port: redis.port,
      host: '127.0.0.1',
      db: 3,
      password: 'a-wrong-one',
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    client.on('error', (err: Error & { command?: { name?: string } }) =>
      seen.push(`${err.command?.name}: ${err.message}`),
    );
    let ended = false;
    client.on('end', () => (ended = true));
    stopOnRefusedDatabase(client, 3, 'REDIS_URL', (message) => stopped.push(message));
    try {
      // ioredis pipelines AUTH and SELECT; on a loaded host it sometimes closes on AUTH's refusal before SELECT's
      // reply is read. Either way, once the connection has ended (no retry), the guard must not have blamed the index.
      await waitFor(() => ended || seen.some((s) => s.startsWith('select: NOAUTH')), {
        timeoutMs: 20_000,
        message: 'the connection neither saw its SELECT refused nor ended',
      });
      expect(seen.some((s) => s.startsWith('auth: WRONGPASS'))).toBe(true);
      expect(stopped).toEqual([]);
    } finally {
      client.disconnect();
    }
  });
});
