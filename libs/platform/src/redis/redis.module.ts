import {
  Global,
  Inject,
  Logger,
  Module,
  Optional,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import type { Redis } from 'ioredis';
import { Counter, type Registry } from 'prom-client';
import { BaseEnv, ENV } from '../config/base-env';
import { METRICS_REGISTRY, MetricName } from '../metrics/metrics';
import { SHARED_APP_NAME } from '../replies/shared-process';
import { checkEvictionPolicy } from './eviction-check';
import { RedisFinalWrites } from './final-writes';
import { closeRedis, createRedis, REDIS, RedisKeys } from './redis';
import { RedisErrors } from './redis-errors';

/**
 * One shared command connection (its commands of one event-loop turn leave in one write), the writes it must take at
 * shutdown (RedisFinalWrites), the key namespace, and the process's Redis error reporter
 * (`aigw_redis_errors_total{op}` when the metrics module is loaded). BullMQ queues and workers get connections
 * of their own (see `createRedis`).
 */
@Global()
@Module({
  providers: [
    {
      provide: RedisErrors,
      inject: [
        { token: METRICS_REGISTRY, optional: true },
        { token: SHARED_APP_NAME, optional: true },
      ],
      useFactory: (registry?: Registry, app?: string | null) => {
        const counter = registry
          ? new Counter({
              name: MetricName.RedisErrors,
              help: 'Redis commands and connection attempts that failed, by what they were for',
              labelNames: ['op'] as const,
              registers: [registry],
            })
          : undefined;
        // Each app of a shared process has its own connections and outages (ADR 0010): its lines say which app.
        const logger = new Logger('Redis');
        const named = app === undefined || app === null ? logger : prefixed(logger, `${app}: `);
        return new RedisErrors(named, counter);
      },
    },
    {
      provide: REDIS,
      inject: [ENV, RedisErrors],
      useFactory: (env: BaseEnv, errors: RedisErrors) =>
        createRedis(env.REDIS_URL, `${env.REDIS_PREFIX}:cmd`, errors, { corkPerTurn: true }),
    },
    { provide: RedisKeys, inject: [ENV], useFactory: (env: BaseEnv) => new RedisKeys(env.REDIS_PREFIX) },
    { provide: RedisFinalWrites, useFactory: () => new RedisFinalWrites() },
  ],
  exports: [REDIS, RedisKeys, RedisErrors, RedisFinalWrites],
})
export class RedisModule implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    private readonly finalWrites: RedisFinalWrites,
    @Optional() @Inject(SHARED_APP_NAME) private readonly app?: string | null,
  ) {}

  onApplicationBootstrap(): void {
    const logger = new Logger('Redis');
    const app = this.app;
    // Not awaited: one INFO, whose answer may wait for Redis; the boot does not.
    void checkEvictionPolicy(this.redis, app === undefined || app === null ? logger : prefixed(logger, `${app}: `));
  }

  async onApplicationShutdown(): Promise<void> {
    await this.finalWrites.run();
    await closeRedis(this.redis);
  }
}

function prefixed(logger: Pick<Logger, 'warn' | 'log'>, prefix: string): Pick<Logger, 'warn' | 'log'> {
  return {
    warn: (message: string) => logger.warn(prefix + message),
    log: (message: string) => logger.log(prefix + message),
  };
}
