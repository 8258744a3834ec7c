import { Logger } from '@nestjs/common';
import { ClientRedis, ServerRedis, type MessageHandler } from '@nestjs/microservices';
import { parseRedisUrl } from '@aigw/core';
import type { Redis, RedisOptions } from 'ioredis';
import { answerRefusedInfo, pingWhileOpen, REDIS_MAX_RECONNECT_DELAY_MS, REDIS_SOCKET_TIMEOUT_MS } from './redis';
import type { RedisErrors } from './redis-errors';

type TransportOptions = ConstructorParameters<typeof ClientRedis>[0];

/** Options of the control transport on REDIS_URL: reconnect forever (Redis restarts must be survivable). */
function controlOptions(redisUrl: string): TransportOptions {
  const base: TransportOptions = {
    ...parseRedisUrl(redisUrl),
    // Without retryAttempts the transport gives up after the first disconnect and control messages stop.
    retryAttempts: Number.MAX_SAFE_INTEGER,
    retryDelay: REDIS_MAX_RECONNECT_DELAY_MS,
  };
  // Nest passes its options on to ioredis but types only some of them: the socket timeout of createRedis, so that a
  // half-open network does not leave control messages (cancellations, catalog changes) and the close hanging for good.
  const halfOpen: Pick<RedisOptions, 'socketTimeout'> = { socketTimeout: REDIS_SOCKET_TIMEOUT_MS };
  return Object.assign(base, halfOpen);
}

/**
 * Nest's Redis transport logs every connection error and every reconnection attempt at error and log
 * level: dozens of lines a minute while Redis is down. Its connections report to our RedisErrors instead
 * (one line per outage, counted by op, and "Redis is back after ..." when it ends), as every other connection of
 * the process does: the per-attempt "Reconnecting to Redis..." line is dropped, and so is "Connected to Redis.
 * Subscribing to channels...", which each of its two connections logged at boot and again after every outage, in
 * words of its own next to the one "Redis is back" line.
 */
class TransportLogger extends Logger {
  override log(message: unknown, ...rest: unknown[]): void {
    if (
      typeof message === 'string' &&
      (message.startsWith('Reconnecting to Redis') || message.startsWith('Connected to Redis'))
    ) {
      return;
    }
    super.log(message, ...(rest as [string?]));
  }
}

/**
 * What every connection of the process gets from `createRedis`, for the two the transport makes itself: its errors
 * reported to RedisErrors, an INFO its user may not run handled (no console line of ioredis's per connection), and,
 * as it waits with nothing pending, a heartbeat that lets the socket timeout find a silent network.
 */
function adoptConnection(client: Redis, errors: RedisErrors, name: string): void {
  errors.watchConnection(client, name);
  answerRefusedInfo(client);
  pingWhileOpen(client);
}

/**
 * Request/reply messages (`send`) travel on channels named `<namespace><pattern>` and `<namespace><pattern>.reply`,
 * so that deployments (or test runs) sharing one Redis never answer each other's requests: pub/sub reaches every
 * subscriber, and the first reply wins. Events (`emit`) keep the bare pattern and carry their namespace inside.
 * Pass `controlNamespace(env.REDIS_PREFIX, env.REDIS_URL)` on both sides.
 *
 * Pub/sub channels belong to the server, not to a database: deployments kept apart by REDIS_URL's database index
 * alone (same REDIS_PREFIX) answered each other's connection tests (another deployment's monitor, with its own
 * catalog and secrets, could win the reply). A database other than 0 is part of the namespace (0 keeps the bare
 * prefix that releases before this one used).
 */
export function controlNamespace(redisPrefix: string, redisUrl?: string): string {
  const db = redisUrl === undefined ? 0 : parseRedisUrl(redisUrl).db;
  return db === 0 ? `${redisPrefix}:` : `${redisPrefix}:db${db}:`;
}

/** The control-message client (api-gateway → workers and monitor): `cancel-generation`, `health.probe` and friends. */
export class ControlClient extends ClientRedis {
  protected override readonly logger = new TransportLogger('ControlClient');

  constructor(
    redisUrl: string,
    private readonly errors: RedisErrors,
    private readonly namespace = '',
  ) {
    super(controlOptions(redisUrl));
  }

  override registerErrorListener(client: Redis): void {
    adoptConnection(client, this.errors, 'control-client');
  }

  override getRequestPattern(pattern: string): string {
    return `${this.namespace}${pattern}`;
  }

  override getReplyPattern(pattern: string): string {
    return `${this.namespace}${pattern}.reply`;
  }

  /** How many servers listen for requests of `pattern` now (one Redis round trip); 0 means nobody would answer. */
  async listeners(pattern: string): Promise<number> {
    await this.connect();
    const channel = this.getRequestPattern(pattern);
    // ioredis: PUBSUB NUMSUB answers [channel, count]. The client is typed `any` by Nest.
    const reply = (await (this.pubClient as Redis).pubsub('NUMSUB', channel)) as [string, number | string];
    return Number(reply[1]);
  }
}

/**
 * The control-message server of a worker or monitor: pass as `strategy` to `connectMicroservice`.
 *
 * Pub/sub keeps nothing for a subscriber that is away: a message published while its connection was down (dropped by
 * the network, a proxy, `CLIENT KILL`, a Redis failover) never arrives, and ioredis only subscribes again as it
 * reconnects. `onResubscribed` runs then (not at the first connection), for the app to catch up on what it may have
 * missed: it re-reads its catalog, which a lost `provider.changed` would otherwise leave stale until the next
 * periodic reload (`CATALOG_RELOAD_S`).
 */
export class ControlServer extends ServerRedis {
  protected override readonly logger = new TransportLogger('ControlServer');

  constructor(
    redisUrl: string,
    private readonly errors: RedisErrors,
    private readonly namespace = '',
    private readonly onResubscribed?: () => void,
  ) {
    super(controlOptions(redisUrl));
  }

  override registerErrorListener(client: Redis): void {
    adoptConnection(client, this.errors, 'control-server');
  }

  override registerReadyListener(client: Redis): void {
    super.registerReadyListener(client);
    const catchUp = this.onResubscribed;
    // Both connections are made before their listeners are registered; only the subscriber's return matters.
    if (catchUp === undefined || client !== this.subClient) {
      return;
    }
    let connected = false;
    client.on('ready', () => {
      if (connected) {
        catchUp();
      }
      connected = true;
    });
  }

  /** Request handlers listen on the namespaced channel (the reply goes to that channel + `.reply`). */
  override getRequestPattern(pattern: string): string {
    return `${this.namespace}${pattern}`;
  }

  /** A request arrives on its namespaced channel; its handler is registered under the bare pattern. */
  override getHandlerByPattern(pattern: string): MessageHandler | null {
    const bare =
      this.namespace !== '' && pattern.startsWith(this.namespace) ? pattern.slice(this.namespace.length) : pattern;
    return super.getHandlerByPattern(bare);
  }
}
