import { Global, Module, type DynamicModule, type Type } from '@nestjs/common';
import { ProviderHealthStore, UsageRetentionStore } from '@aigw/entities';
import {
  CatalogEventsController,
  CatalogService,
  DatabaseModule,
  ENV,
  HealthModule,
  LocalRepliesModule,
  MetricsModule,
  RedisModule,
  ShutdownModule,
  type SharedProcess,
  MigratedDatabase,
} from '@aigw/platform';
import type { MonitorEnv } from './config/monitor-env';
import { Alerts } from './health/alerts';
import { HealthJobs } from './health/health-jobs';
import { HealthQueue } from './health/health-queue';
import { HealthScheduler } from './health/health-scheduler';
import { MonitorMetrics } from './health/monitor-metrics';
import { Prober } from './health/prober';
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
 * The health-monitor: scheduled probes of every provider and gateway (BullMQ job schedulers shared by the
 * replicas), health history and status in PostgreSQL, alerts, model discovery, history retention, on-demand
 * connection tests (`health.probe`); plus the database (migrations under the shared lock), Redis, `/health/*` and
 * `/metrics`.
 */
@Module({
  imports: [ShutdownModule, RedisModule, DatabaseModule, HealthModule],
  controllers: [ProbeController, CatalogEventsController],
  providers: [
    CatalogService,
    ConnectionTestService,
    {
      provide: ProviderHealthStore,
      inject: [MigratedDatabase],
      useFactory: (db: MigratedDatabase) => new ProviderHealthStore(db.dataSource),
    },
    {
      provide: UsageRetentionStore,
      inject: [MigratedDatabase],
      useFactory: (db: MigratedDatabase) => new UsageRetentionStore(db.dataSource),
    },
    Prober,
    HealthQueue,
    MonitorMetrics,
    Alerts,
    HealthJobs,
    HealthScheduler,
  ],
  exports: [ConnectionTestService],
})
export class HealthMonitorModule {}

/** The root module for one validated environment; `shared`: it runs in an api-gateway's process (ADR 0010). */
export function healthMonitorRoot(env: MonitorEnv, shared?: SharedProcess): Type<unknown> {
  @Module({
    imports: [
      MonitorEnvModule.forRoot(env),
      MetricsModule.forRoot({ processMetrics: shared === undefined }),
      LocalRepliesModule.forRoot(shared, 'health-monitor'),
      HealthMonitorModule,
    ],
  })
  class HealthMonitorRoot {}
  return HealthMonitorRoot;
}
