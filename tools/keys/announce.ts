import { ControlPattern, DEFAULT_REDIS_URL, parseRedisUrl, type AuthChangedMessage } from '@aigw/core';
import { Redis } from 'ioredis';

/** How long the CLI waits for Redis before it gives up telling the gateways (the key is revoked all the same). */
const ANNOUNCE_TIMEOUT_MS = 3_000;

/**
 * Tells every api-gateway of the deployment that `userId`'s keys changed (`auth.changed`, as the admin API's revoke
 * does), so a key revoked from a shell is refused at once rather than after AUTH_CACHE_TTL_MS on each replica. Read
 * from the gateway's own variables and defaults, as the database is: REDIS_URL (with REDIS_PASSWORD when the URL has
 * none) and REDIS_PREFIX. Answers why it could not (a shell that reaches no Redis of the deployment: the TTL stays the
 * bound), or null once published; never throws (the revocation is committed already).
 */
export async function announceAuthChange(env: NodeJS.ProcessEnv, userId: string): Promise<string | null> {
  const url = env.REDIS_URL === undefined || env.REDIS_URL === '' ? DEFAULT_REDIS_URL : env.REDIS_URL;
  let redis: Redis | undefined;
  let lastError: Error | undefined;
  try {
    const options = parseRedisUrl(url);
    if (options.password === undefined && env.REDIS_PASSWORD !== undefined && env.REDIS_PASSWORD !== '') {
      options.password = env.REDIS_PASSWORD;
    }
    redis = new Redis({
      ...options,
      connectionName: 'keys-cli',
      lazyConnect: true,
      connectTimeout: ANNOUNCE_TIMEOUT_MS,
      commandTimeout: ANNOUNCE_TIMEOUT_MS,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      enableOfflineQueue: false,
    });
    // Kept for the answer (connect() itself only says "Connection is closed."); unhandled, it would be printed.
    redis.on('error', (err: Error) => {
      lastError = err;
    });
    await redis.connect();
    const data: AuthChangedMessage = { ns: env.REDIS_PREFIX ?? 'aigw', userId };
    // The packet as Nest's Redis transport emits an event: the bare pattern as the channel, the namespace inside.
    await redis.publish(ControlPattern.AuthChanged, JSON.stringify({ pattern: ControlPattern.AuthChanged, data }));
    return null;
  } catch (err) {
    // Messages of ioredis and parseRedisUrl name the host and port at most, never the URL (it may hold a password).
    const why = lastError ?? err;
    return `Redis: ${why instanceof Error ? why.message : String(why)}`;
  } finally {
    redis?.disconnect();
  }
}
