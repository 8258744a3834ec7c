import { Logger } from '@nestjs/common';
import { ClientRedis, ServerRedis } from '@nestjs/microservices';
import { parseRedisUrl } from '@aigw/core';
import type { Redis } from 'ioredis';
import { REDIS_MAX_RECONNECT_DELAY_MS } from './redis';
import type { RedisErrors } from './redis-errors';

type TransportOptions = ConstructorParameters<typeof ClientRedis>[0];

/** Options of the control transport on REDIS_URL: reconnect forever (Redis restarts must be survivable). */
function controlOptions(redisUrl: string): TransportOptions {
  return {
    ...parseRedisUrl(redisUrl),
    // Without retryAttempts the transport gives up after the first disconnect and control messages stop.
    retryAttempts: Number.MAX_SAFE_INTEGER,
    retryDelay: REDIS_MAX_RECONNECT_DELAY_MS,
  };
}

/**
 * Nest's Redis transport logs every connection error and every reconnection attempt at error and log
 * level: dozens of lines a minute while Redis is down. Its connections report to our RedisErrors instead
 * (one line per outage, counted by op), and the per-attempt "Reconnecting" line is dropped.
 */
class TransportLogger extends Logger {
  override log(message: unknown, ...rest: unknown[]): void {
    if (typeof message === 'string' && message.startsWith('Reconnecting to Redis')) {
      return;
    }
    super.log(message, ...(rest as [string?]));
  }
}

/** The control-message client (api-gateway → workers): `cancel-generation` and friends. */
export class ControlClient extends ClientRedis {
  protected override readonly logger = new TransportLogger('ControlClient');

  constructor(
    redisUrl: string,
    private readonly errors: RedisErrors,
  ) {
    super(controlOptions(redisUrl));
  }

  override registerErrorListener(client: Redis): void {
    this.errors.watchConnection(client, 'control-client');
  }
}

/** The control-message server of a worker or monitor: pass as `strategy` to `connectMicroservice`. */
export class ControlServer extends ServerRedis {
  protected override readonly logger = new TransportLogger('ControlServer');

  constructor(
    redisUrl: string,
    private readonly errors: RedisErrors,
  ) {
    super(controlOptions(redisUrl));
  }

  override registerErrorListener(client: Redis): void {
    this.errors.watchConnection(client, 'control-server');
  }
}
