import { Redis } from 'ioredis';
import { ControlServer, RedisErrors } from '@aigw/platform';
import { PrivateRedis, waitFor } from '@aigw/testing';

/**
 * Pub/sub keeps nothing for a subscriber that is away: a `provider.changed` published while a worker's control
 * connection was down never reached it, and the worker routed to a provider an admin had disabled until its next
 * periodic catalog reload (CATALOG_RELOAD_S, 30 s). The control server now tells its app when its subscription is
 * back, and the app re-reads its catalog. A Redis of the test's own: it kills every subscriber connection.
 */
describe('control server: a dropped subscription', () => {
  const redis = new PrivateRedis();
  const quiet = new RedisErrors({ warn: () => undefined, log: () => undefined });
  let admin: Redis;
  let server: ControlServer;
  let resubscribed = 0;

  beforeAll(async () => {
    await redis.start();
    admin = new Redis(redis.url);
    server = new ControlServer(redis.url, quiet, '', () => resubscribed++);
    server.addHandler('provider.changed', () => Promise.resolve(undefined), true);
    await new Promise<void>((resolve, reject) =>
      server.listen((err) => (err === undefined ? resolve() : reject(new Error('no listen', { cause: err })))),
    );
  }, 30_000);

  afterAll(async () => {
    await server.close();
    await admin.quit();
    await redis.stop();
  });

  it('calls back once its subscription is back, never at the first connection', async () => {
    await waitFor(async () => Number((await admin.pubsub('NUMSUB', 'provider.changed'))[1]) === 1);
    expect(resubscribed).toBe(0);

    await admin.client('KILL', 'TYPE', 'pubsub');
    await waitFor(() => resubscribed === 1, { timeoutMs: 10_000, message: 'no call back after the reconnection' });
    await waitFor(async () => Number((await admin.pubsub('NUMSUB', 'provider.changed'))[1]) === 1);

    await admin.client('KILL', 'TYPE', 'pubsub');
    await waitFor(() => resubscribed === 2, { timeoutMs: 10_000, message: 'no call back after the second one' });
  });
});
