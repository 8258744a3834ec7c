import { Global, Module, type DynamicModule, type Type } from '@nestjs/common';
import { DatabaseModule, ENV, HealthModule, MetricsModule, RedisModule, ShutdownModule } from '@aigw/platform';
import type { MonitorEnv } from './config/monitor-env';

@Global()
@Module({})
class MonitorEnvModule {
  static forRoot(env: MonitorEnv): DynamicModule {
    return { module: MonitorEnvModule, providers: [{ provide: ENV, useValue: env }], exports: [ENV] };
  }
}

/**
 * The health-monitor. For now it owns its process wiring only: the database (migrations run under the
 * shared lock), Redis, `/health/live`, `/health/ready` and `/metrics`. Scheduled provider probes, health
 * history, provider status and alerts arrive with the probes issue and plug in here.
 */
@Module({ imports: [ShutdownModule, RedisModule, DatabaseModule, MetricsModule, HealthModule] })
export class HealthMonitorModule {}

/** The root module for one validated environment. */
export function healthMonitorRoot(env: MonitorEnv): Type<unknown> {
  @Module({ imports: [MonitorEnvModule.forRoot(env), HealthMonitorModule] })
  class HealthMonitorRoot {}
  return HealthMonitorRoot;
}
