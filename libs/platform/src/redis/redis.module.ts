import { Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { BaseEnv, ENV } from '../config/base-env';
import { createRedis, REDIS, RedisKeys } from './redis';

/**
 * One shared command connection (auto-pipelined) plus the key namespace. BullMQ queues and workers get
 * connections of their own (see `createRedis`).
 */
@Global()
@Module({
  providers: [
    {
      provide: REDIS,
      inject: [ENV],
      useFactory: (env: BaseEnv) => createRedis(env.REDIS_URL, `${env.REDIS_PREFIX}:cmd`, { autoPipelining: true }),
    },
    { provide: RedisKeys, inject: [ENV], useFactory: (env: BaseEnv) => new RedisKeys(env.REDIS_PREFIX) },
  ],
  exports: [REDIS, RedisKeys],
})
export class RedisModule implements OnApplicationShutdown {
  constructor(@Inject(REDIS) private readonly redis: Redis) {}

  async onApplicationShutdown(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
