import { Global, Module, type DynamicModule, type Type } from '@nestjs/common';
import { AdapterRegistry, HttpPool } from '@aigw/adapters';
import {
  CatalogEventsController,
  CatalogService,
  DatabaseModule,
  ENV,
  HealthModule,
  LocalRepliesModule,
  MetricsModule,
  RedisErrors,
  RedisKeys,
  RedisModule,
  ResponseCache,
  cacheRedisOf,
  ShutdownModule,
  type SharedProcess,
} from '@aigw/platform';
import { CancelController } from './cancel/cancel.controller';
import { CancellationRegistry } from './cancel/cancellation-registry';
import type { WorkerEnv } from './config/worker-env';
import { GenerationService } from './generation/generation.service';
import { AnswerStash } from './jobs/answer-stash';
import { OutcomeStore } from './jobs/outcome-store';
import { GenerateHandler } from './jobs/generate.handler';
import { KeyRecheck } from './jobs/key-recheck';
import { Settlement } from './jobs/settlement';
import { DrainDeadline } from './lifecycle/drain-deadline';
import { GenerationConsumer } from './jobs/generation-consumer';
import { QueueDepthGauge } from './metrics/queue-depth.gauge';
import { WorkerMetrics } from './metrics/worker-metrics';
import { WorkerQueues } from './queue/worker-queues';
import { PluginCheck } from './plugins/plugin-check';
import { ROUTING_PROVIDERS } from './routing/routing.providers';
import { UsageRecorder } from './usage/usage-recorder';
import { UsageWriter } from './usage/usage-writer';
import { WorkerLifecycle } from './worker-lifecycle';

@Global()
@Module({})
class WorkerEnvModule {
  static forRoot(env: WorkerEnv): DynamicModule {
    return { module: WorkerEnvModule, providers: [{ provide: ENV, useValue: env }], exports: [ENV] };
  }
}

/**
 * The router-worker: consumes generate jobs, calls providers, answers on reply channels, records usage.
 * Its only HTTP surface is `/health/*` and `/metrics`; cancel messages arrive over the Redis transport.
 */
@Module({
  imports: [ShutdownModule, RedisModule, DatabaseModule, HealthModule],
  controllers: [CancelController, CatalogEventsController],
  providers: [
    CatalogService,
    {
      provide: AdapterRegistry,
      useFactory: (env: WorkerEnv) =>
        new AdapterRegistry(new HttpPool({ allowLinkLocal: env.PROVIDER_ALLOW_LINK_LOCAL })),
      inject: [ENV],
    },
    PluginCheck,
    WorkerMetrics,
    QueueDepthGauge,
    WorkerQueues,
    CancellationRegistry,
    ...ROUTING_PROVIDERS,
    GenerationService,
    DrainDeadline,
    UsageRecorder,
    AnswerStash,
    OutcomeStore,
    Settlement,
    KeyRecheck,
    {
      provide: ResponseCache,
      useFactory: (env: WorkerEnv, keys: RedisKeys, errors: RedisErrors) => {
        const { url, variable } = cacheRedisOf(env);
        return new ResponseCache(url, keys, errors, variable);
      },
      inject: [ENV, RedisKeys, RedisErrors],
    },
    GenerateHandler,
    GenerationConsumer,
    UsageWriter,
    WorkerLifecycle,
  ],
})
export class RouterWorkerModule {}

/**
 * The root module for one validated environment. `shared`: the worker runs in an api-gateway's process (ADR 0010),
 * whose registry exports the process metrics and to whose reply channel it answers in memory.
 */
export function routerWorkerRoot(env: WorkerEnv, shared?: SharedProcess): Type<unknown> {
  @Module({
    imports: [
      WorkerEnvModule.forRoot(env),
      MetricsModule.forRoot({ processMetrics: shared === undefined }),
      LocalRepliesModule.forRoot(shared, 'router-worker'),
      RouterWorkerModule,
    ],
  })
  class RouterWorkerRoot {}
  return RouterWorkerRoot;
}
