import { Global, Module, type DynamicModule, type Type } from '@nestjs/common';
import {
  CatalogEventsController,
  CatalogService,
  DatabaseModule,
  ENV,
  HealthModule,
  MetricsModule,
  RedisModule,
  ShutdownModule,
} from '@aigw/platform';
import type { MonitorEnv } from './config/monitor-env';
import { ConnectionTestService } from './probe/connection-test.service';
import { ProbeController } from './probe/probe.controller';

@Global()
@Module({})
class MonitorEnvModule {
  static forRoot(env: MonitorEnv): DynamicModule {
    return { module: MonitorEnvModule, providers: [{ provide: ENV, useValue: env }], exports: [ENV] };
  }
}

/**
 * The health-monitor: the database (migrations run under the shared lock), Redis, `/health/live`, `/health/ready`,
 * `/metrics`, the catalog, and on-demand connection tests (`health.probe`). Scheduled probes, health history,
 * provider status and alerts plug in here.
 */
@Module({
  imports: [ShutdownModule, RedisModule, DatabaseModule, MetricsModule, HealthModule],
  controllers: [ProbeController, CatalogEventsController],
  providers: [CatalogService, ConnectionTestService],
  exports: [ConnectionTestService],
})
export class HealthMonitorModule {}

/** The root module for one validated environment. */
export function healthMonitorRoot(env: MonitorEnv): Type<unknown> {
  @Module({ imports: [MonitorEnvModule.forRoot(env), HealthMonitorModule] })
  class HealthMonitorRoot {}
  return HealthMonitorRoot;
}
