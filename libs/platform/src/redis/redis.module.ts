import { Global, Inject, Logger, Module, type OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { Counter, type Registry } from 'prom-client';
import { BaseEnv, ENV } from '../config/base-env';
import { METRICS_REGISTRY, MetricName } from '../metrics/metrics';
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
      inject: [{ token: METRICS_REGISTRY, optional: true }],
      useFactory: (registry?: Registry) => {
        const counter = registry
          ? new Counter({
              name: MetricName.RedisErrors,
              help: 'Redis commands and connection attempts that failed, by what they were for',
              labelNames: ['op'] as const,
              registers: [registry],
            })
          : undefined;
        return new RedisErrors(new Logger('Redis'), counter);
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
export class RedisModule implements OnApplicationShutdown {
  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    private readonly finalWrites: RedisFinalWrites,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    await this.finalWrites.run();
    await closeRedis(this.redis);
  }
}
