import { Logger } from '@nestjs/common';
import {
  bullOptions,
  checkEvictionPolicy,
  closeRedis,
  ControlClient,
  ControlServer,
  createRedis,
  redactCredentials,
  REDIS_USABLE,
  RedisErrors,
  RedisKeys,
} from '@aigw/platform';
import { PrivateRedis, uniqueId, waitFor } from '@aigw/testing';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { inspect } from 'node:util';

const quiet = { warn: () => undefined, log: () => undefined };

/**
 * Managed Redis services hand out ACL users that may not run some commands. Without INFO, BullMQ's queues and workers
 * never opened (its version check runs a bare INFO on each connection): every request was a 503 and no job ran.
 */
describe('an ACL user that may not run INFO', () => {
  const redis = new PrivateRedis(['--requirepass', 'admin-secret']);
  let url: string;

  beforeAll(async () => {
    await redis.start();
    const admin = new Redis({ port: redis.port, host: '127.0.0.1', password: 'admin-secret' });
    await admin.acl('SETUSER', 'noinfo', 'on', '>noinfo-secret', '~*', '&*', '+@all', '-info');
    await admin.quit();
    url = `redis://noinfo:noinfo-secret@127.0.0.1:${redis.port}/1`;
  });

  afterAll(async () => {
    await redis.stop();
  });

  it('queues a job and a worker runs it', async () => {
    const errors = new RedisErrors(quiet);
    const producer = createRedis(url, uniqueId('producer'), errors);
    const consumer = createRedis(url, uniqueId('consumer'), errors, { blocking: true });
    const keys = new RedisKeys(uniqueId('acl'));
    const queue = new Queue('q', bullOptions(producer, keys));
    const worker = new Worker('q', (job) => Promise.resolve(`done ${String(job.data)}`), bullOptions(consumer, keys));
    const failures: string[] = [];
    queue.on('error', (err) => failures.push(err.message));
    worker.on('error', (err) => failures.push(err.message));
    try {
      const job = await queue.add('j', 'x');
      await waitFor(async () => (await queue.getJob(job.id ?? ''))?.returnvalue === 'done x', {
        timeoutMs: 10_000,
        message: `the job did not run (${failures.join('; ')})`,
      });
      expect(failures).toEqual([]);
    } finally {
      await worker.close();
      await queue.close();
      await closeRedis(consumer);
      await closeRedis(producer);
    }
  });

  it("says so once, in the log's words: no ioredis console line per connection, no transport line of its own", async () => {
    const consoleWarn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const logged = jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    const errors = new RedisErrors(quiet);
    const command = createRedis(url, uniqueId('command'), errors);
    const server = new ControlServer(url, errors, `${uniqueId('acl_ns')}:`);
    const client = new ControlClient(url, errors, `${uniqueId('acl_ns')}:`);
    const admin = new Redis({ port: redis.port, host: '127.0.0.1', password: 'admin-secret' });
    try {
      await command.ping();
      await new Promise<void>((resolve, reject) =>
        server.listen((err) =>
          err === undefined ? resolve() : reject(new Error('no control server', { cause: err })),
        ),
      );
      await client.connect();
      // Every connection reconnects (and runs its ready check again): the command one, and two of each transport.
      const ids = async (): Promise<number[]> =>
        String(await admin.client('LIST'))
          .split('\n')
          .filter((l) => l.includes(' user=noinfo '))
          .map((l) => Number(/^id=(\d+)/.exec(l)?.[1]));
      const before = Math.max(...(await ids()));
      await admin.client('KILL', 'USER', 'noinfo');
      await waitFor(async () => (await ids()).filter((id) => id > before).length >= 5, {
        message: 'the connections did not come back',
      });
      await command.ping();
      // A connection is listed before its client has seen it ready: until then the control client's requests are
      // refused ("Connection lost. Trying to reconnect..."), which CI's loaded runs reached.
      await waitFor(
        () =>
          client.listeners('x').then(
            () => true,
            () => false,
          ),
        { message: 'the control client did not reconnect' },
      );
      const warned = consoleWarn.mock.calls.map((args) => args.map(String).join(' '));
      expect(warned.filter((l) => l.includes('ready check'))).toEqual([]);
      const transportLines = logged.mock.calls.map(([m]) => String(m)).filter((m) => m.includes('Redis'));
      expect(transportLines).toEqual([]);
      // The one warning: the eviction check's, which names the variable.
      const warnings: string[] = [];
      await checkEvictionPolicy(command, { warn: (m: string) => void warnings.push(m) });
      expect(warnings).toEqual([expect.stringContaining("REDIS_URL's user may not run INFO")]);
    } finally {
      consoleWarn.mockRestore();
      logged.mockRestore();
      await Promise.all([client.close(), server.close(), closeRedis(command), admin.quit()]);
    }
  });

  it('says the eviction policy cannot be checked', async () => {
    const client = createRedis(url, uniqueId('check'), new RedisErrors(quiet));
    const warnings: string[] = [];
    try {
      await checkEvictionPolicy(client, { warn: (m: string) => void warnings.push(m) });
    } finally {
      await closeRedis(client);
    }
    expect(warnings).toEqual([expect.stringContaining("REDIS_URL's user may not run INFO")]);
  });
});

describe('the eviction policy of the queue Redis', () => {
  const evicting = new PrivateRedis(['--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru']);
  const keeping = new PrivateRedis();

  beforeAll(async () => {
    await Promise.all([evicting.start(), keeping.start()]);
  });

  afterAll(async () => {
    await Promise.all([evicting.stop(), keeping.stop()]);
  });

  async function warningsFor(server: PrivateRedis): Promise<string[]> {
    const client = createRedis(server.url, uniqueId('check'), new RedisErrors(quiet));
    const warnings: string[] = [];
    try {
      await checkEvictionPolicy(client, { warn: (m: string) => void warnings.push(m) });
    } finally {
      await closeRedis(client);
    }
    return warnings;
  }

  it('is reported when it is not noeviction', async () => {
    expect(await warningsFor(evicting)).toEqual([
      expect.stringMatching(
        /^the Redis of REDIS_URL runs with maxmemory-policy allkeys-lru: .* run it with noeviction/,
      ),
    ]);
  });

  it('says nothing of noeviction', async () => {
    expect(await warningsFor(keeping)).toEqual([]);
  });
});

/**
 * A password rotated in Redis before the apps: a subscriber (the gateway's reply channel) reconnects, is refused, and
 * ioredis's unhandled resubscription rejected with AUTH's error: the gateway crashed, Node printing the error with
 * the AUTH command's arguments, REDIS_URL's password among them.
 */
describe('a password rotated in Redis before the apps', () => {
  const redis = new PrivateRedis(['--requirepass', 'admin-secret']);
  let admin: Redis;

  beforeAll(async () => {
    await redis.start();
    admin = new Redis({ port: redis.port, host: '127.0.0.1', password: 'admin-secret' });
    await admin.acl('SETUSER', 'rotating', 'on', '>old-secret', '~*', '&*', '+@all');
  });

  afterAll(async () => {
    await admin.quit();
    await redis.stop();
  });

  it('leaves a subscriber reconnecting, reporting the refusal without the password', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    const seen: string[] = [];
    const errors = new RedisErrors(quiet);
    const url = `redis://rotating:old-secret@127.0.0.1:${redis.port}/1`;
    const subscriber = createRedis(url, uniqueId('replies'), errors, { subscriber: true });
    subscriber.on('error', (err: Error) => seen.push(inspect(err)));
    try {
      await subscriber.subscribe(uniqueId('channel'));
      await admin.acl('SETUSER', 'rotating', 'resetpass', '>new-secret');
      await admin.client('KILL', 'USER', 'rotating');
      await waitFor(() => seen.some((s) => s.includes('WRONGPASS')), {
        timeoutMs: 5_000,
        message: 'the refused login was not seen',
      });
      // Past the turn in which the flushed commands' rejections would go unhandled.
      await new Promise((r) => setTimeout(r, 200));
      expect(unhandled.map((r) => inspect(r))).toEqual([]);
      expect(seen.join('\n')).not.toContain('old-secret');
    } finally {
      process.off('unhandledRejection', onUnhandled);
      subscriber.disconnect();
      await admin.acl('SETUSER', 'rotating', 'resetpass', '>old-secret');
    }
  });

  it('tells one outage, and no return, until Redis accepts the login again', async () => {
    const lines: string[] = [];
    const errors = new RedisErrors({ warn: (m: string) => lines.push(m), log: (m: string) => lines.push(m) });
    const url = `redis://rotating:old-secret@127.0.0.1:${redis.port}/1`;
    const subscriber = createRedis(url, uniqueId('replies'), errors, { subscriber: true });
    let usable = 0;
    let refusals = 0;
    subscriber.on(REDIS_USABLE, () => usable++);
    subscriber.on('error', (err: Error) => void (err.message.startsWith('WRONGPASS') && refusals++));
    try {
      await subscriber.subscribe(uniqueId('channel'));
      await waitFor(() => usable === 1, { message: 'the first connection was not confirmed' });
      await admin.acl('SETUSER', 'rotating', 'resetpass', '>new-secret');
      await admin.client('KILL', 'USER', 'rotating');
      // ioredis turned the connection ready on each refused attempt: each one was a "Redis is back".
      await waitFor(() => refusals >= 4, { timeoutMs: 10_000, message: 'the refused logins were not seen' });
      expect(usable).toBe(1);
      expect(lines.filter((l) => l.startsWith('Redis unavailable'))).toHaveLength(1);
      expect(lines.filter((l) => l.startsWith('Redis is back'))).toEqual([]);
      await admin.acl('SETUSER', 'rotating', 'resetpass', '>old-secret');
      await waitFor(() => usable === 2, { timeoutMs: 10_000, message: 'the return was not confirmed' });
      expect(lines.filter((l) => l.startsWith('Redis is back'))).toHaveLength(1);
    } finally {
      subscriber.disconnect();
      await admin.acl('SETUSER', 'rotating', 'resetpass', '>old-secret');
    }
  });

  it("blanks the password on the errors of the connections BullMQ duplicates (a worker's blocking one)", () => {
    const base = createRedis(`redis://127.0.0.1:${redis.port}/1`, uniqueId('cmd'), new RedisErrors(quiet));
    const copy = base.duplicate();
    try {
      expect(copy.listeners('error')).toContain(redactCredentials);
    } finally {
      copy.disconnect();
      base.disconnect();
    }
  });
});
