import { Controller, Get, Inject, Module } from '@nestjs/common';
import {
  HealthCheck,
  HealthCheckService,
  HealthIndicatorService,
  TerminusModule,
  type HealthCheckResult,
  type HealthIndicatorResult,
} from '@nestjs/terminus';
import type { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { REDIS } from '../redis/redis';

const CHECK_TIMEOUT_MS = 1500;

function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} did not answer within ${CHECK_TIMEOUT_MS} ms`)),
      CHECK_TIMEOUT_MS,
    );
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly db: DataSource,
  ) {}

  /** Liveness: the event loop answers. Never depends on Redis or PostgreSQL (a restart would not fix them). */
  @Get('live')
  @HealthCheck()
  live(): Promise<HealthCheckResult> {
    return this.health.check([() => this.indicators.check('process').up({ pid: process.pid })]);
  }

  /** Readiness: the dependencies this process needs to do its work answer. */
  @Get('ready')
  @HealthCheck()
  ready(): Promise<HealthCheckResult> {
    return this.health.check([
      () => this.ping('redis', () => this.redis.ping()),
      () => this.ping('database', () => this.db.query('SELECT 1')),
    ]);
  }

  private async ping(key: string, fn: () => Promise<unknown>): Promise<HealthIndicatorResult> {
    const indicator = this.indicators.check(key);
    const started = performance.now();
    try {
      await withTimeout(fn(), key);
      return indicator.up({ latencyMs: Math.round((performance.now() - started) * 10) / 10 });
    } catch (err) {
      return indicator.down({ message: err instanceof Error ? err.message : 'unavailable' });
    }
  }
}

/** `/health/live` and `/health/ready` for every app. Needs the Redis and database modules. */
@Module({
  imports: [TerminusModule.forRoot({ logger: false, errorLogStyle: 'pretty' })],
  controllers: [HealthController],
})
export class HealthModule {}
