import { RedisErrors, RedisKeys, ShutdownState } from '@aigw/platform';
import { PrivateRedis, uniqueId, waitFor } from '@aigw/testing';
import { Redis } from 'ioredis';
import type { GatewayEnv } from '../../apps/api-gateway/src/config/gateway-env';
import type { GenerationQueue } from '../../apps/api-gateway/src/generation/generation-queue';
import { ReplyHub } from '../../apps/api-gateway/src/generation/reply-hub';

const quiet = { warn: () => undefined, log: () => undefined };

/**
 * A password rotated in Redis before the apps, then put back: ioredis forgets a subscriber's subscriptions after a
 * refused login, so the hub's reply channel had no subscriber once Redis accepted it again, and every answer waited
 * for a read-back.
 */
describe('api-gateway: ReplyHub after a refused login', () => {
  const redis = new PrivateRedis(['--requirepass', 'admin-secret']);
  let admin: Redis;

  beforeAll(async () => {
    await redis.start();
    admin = new Redis({ port: redis.port, host: '127.0.0.1', password: 'admin-secret' });
    await admin.acl('SETUSER', 'gw', 'on', '>old-secret', '~*', '&*', '+@all');
  });

  afterAll(async () => {
    await admin.quit();
    await redis.stop();
  });

  it('subscribes to its reply channel again once Redis accepts the login', async () => {
    const url = `redis://gw:old-secret@127.0.0.1:${redis.port}/0`;
    const env = { REDIS_URL: url, REDIS_PREFIX: uniqueId('hub'), SHUTDOWN_GRACE_MS: 1_000 } as GatewayEnv;
    const errors = new RedisErrors(quiet);
    const command = new Redis(url);
    const queue = { snapshot: () => Promise.resolve({ state: 'missing' }) } as unknown as GenerationQueue;
    const hub = new ReplyHub(env, new RedisKeys(env.REDIS_PREFIX), queue, errors, new ShutdownState(), command, null);
    let refusals = 0;
    const subscribers = async (): Promise<number> =>
      Number(((await admin.pubsub('NUMSUB', hub.channel)) as [string, number])[1]);
    const subscriber = (hub as unknown as { subscriber: Redis }).subscriber;
    try {
      // As in the app, whose module init comes well after the constructor opened the connection: it is confirmed
      // usable before the hub listens (a PING sent after the one that confirms it is answered after it).
      await waitFor(() => subscriber.status === 'ready', { message: 'the subscriber did not connect' });
      await subscriber.ping();
      await hub.onModuleInit();
      expect(await subscribers()).toBe(1);
      command.on('error', () => undefined);
      subscriber.on('error', (err: Error) => void (err.message.startsWith('WRONGPASS') && refusals++));
      await admin.acl('SETUSER', 'gw', 'resetpass', '>new-secret');
      await admin.client('KILL', 'USER', 'gw');
      await waitFor(() => refusals >= 2, { timeoutMs: 10_000, message: 'the refused logins were not seen' });
      await admin.acl('SETUSER', 'gw', 'resetpass', '>old-secret');
      await waitFor(async () => (await subscribers()) === 1, {
        timeoutMs: 10_000,
        message: 'the reply channel has no subscriber after the login was accepted again',
      });
    } finally {
      await hub.onApplicationShutdown();
      command.disconnect();
    }
  });
});
