import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_PIPE } from '@nestjs/core';
import { ApiKeyStore } from '@aigw/entities';
import {
  CatalogEventsController,
  CatalogService,
  ControlChannel,
  DatabaseModule,
  ENV,
  ErrorEnvelopeFilter,
  HealthModule,
  LocalRepliesModule,
  MetricsModule,
  RedisModule,
  ShutdownModule,
  type SharedProcess,
  MigratedDatabase,
} from '@aigw/platform';
import { AdmissionService } from './admission/admission.service';
import { AnalyticsController } from './analytics/analytics.controller';
import { ANALYTICS_CLOCK, AnalyticsService } from './analytics/analytics.service';
import { QuotaRebuilder } from './admission/quota-rebuilder';
import { AccountsAdminController } from './admin/accounts-admin.controller';
import { AccountsAdminService } from './admin/accounts-admin.service';
import { CatalogChanges } from './admin/catalog-changes';
import { CircuitAdminController } from './admin/circuit-admin.controller';
import { ConfigAdminController } from './admin/config-admin.controller';
import { ConfigTransferService } from './admin/config-transfer.service';
import { GatewaysAdminController } from './admin/gateways-admin.controller';
import { GatewaysAdminService } from './admin/gateways-admin.service';
import { ProviderCommandsController } from './admin/provider-commands.controller';
import { ProviderCommandsService } from './admin/provider-commands.service';
import { ProviderTestController } from './admin/provider-test.controller';
import { ProviderTestService } from './admin/provider-test.service';
import { ProviderStatsService } from './admin/provider-stats.service';
import { ProvidersAdminController } from './admin/providers-admin.controller';
import { ProviderHealthAdminService } from './admin/provider-health-admin.service';
import { ProvidersAdminService } from './admin/providers-admin.service';
import { CircuitAdminService } from './admin/circuit-admin.service';
import { GOVERNANCE_PROVIDERS } from './admin/governance-providers';
import { QuotasAdminController } from './admin/quotas-admin.controller';
import { QuotasAdminService } from './admin/quotas-admin.service';
import { QueueBoard } from './admin/queue-board';
import { PluginAllowance } from './admin/plugin-check';
import { CacheAdminController } from './cache/cache-admin.controller';
import { CacheAdminService } from './cache/cache-admin.service';
import { CacheStats } from './cache/cache-stats';
import { CacheWarmer } from './cache/cache-warmer';
import { MessagesController } from './anthropic/messages.controller';
import { MessagesService } from './anthropic/messages.service';
import { AuthChanges, AuthEventsController } from './auth/auth-changes';
import { ApiKeyAuthenticator } from './auth/api-key-authenticator';
import { ApiKeyGuard } from './auth/api-key.guard';
import { ModelAccess } from './auth/model-access';
import { tiersProvider } from './auth/tiers.provider';
import type { GatewayEnv } from './config/gateway-env';
import { EmbeddingsController } from './embeddings/embeddings.controller';
import { EmbeddingsService } from './embeddings/embeddings.service';
import { CancellationService } from './generation/cancellation.service';
import { GatewayMetrics } from './generation/gateway-metrics';
import { CacheStage } from './generation/cache-stage';
import { Coalescing } from './generation/coalescing';
import { GenerationQueue } from './generation/generation-queue';
import { GatewayQueueDepthGauge } from './generation/queue-depth.gauge';
import { UsageQueue } from './generation/usage-queue';
import { GenerationService } from './generation/generation.service';
import { Servable } from './generation/servable';
import { IdempotencyService } from './generation/idempotency.service';
import { PendingLimit } from './generation/pending-limit';
import { ReplyHub } from './generation/reply-hub';
import { EarlyConnectionDrain } from './http/connection-drainer';
import { HttpMetrics } from './http/http-metrics';
import { DeploymentSignals } from './models/deployment-signals.service';
import { ModelListsService } from './models/model-lists.service';
import { ModelsController } from './models/models.controller';
import { JobsService } from './native/jobs.service';
import { NativeGenerationController } from './native/native-generation.controller';
import { NativeGenerationService } from './native/native-generation.service';
import { ChatCompletionsController } from './openai/chat-completions.controller';
import { ChatCompletionsService } from './openai/chat-completions.service';
import { PreferencesController } from './preferences/preferences.controller';
import { PreferencesService } from './preferences/preferences.service';
import { UsageController } from './usage/usage.controller';
import { UsageService } from './usage/usage.service';
import { RequestValidationPipe } from './validation/validation-pipe';
import { RedisClockOffset } from '@aigw/routing';

/**
 * The api-gateway: controllers, the global guard, pipe and filter, the producer side of the
 * generation queue with its reply channel, and the services behind the controllers. `shared`: it hosts a
 * router-worker in its process (ADR 0010); it still exports the process metrics and serves `/metrics` for both.
 */
@Module({})
export class AppModule {
  static forRoot(env: GatewayEnv, shared?: SharedProcess): DynamicModule {
    return {
      module: AppModule,
      // The platform modules inject the validated env by the ENV token.
      global: true,
      imports: [
        ShutdownModule,
        RedisModule,
        DatabaseModule,
        MetricsModule.forRoot({
          processMetrics: true,
          port: env.METRICS_PORT === undefined ? undefined : { host: env.HOST, port: env.METRICS_PORT },
        }),
        HealthModule,
        LocalRepliesModule.forRoot(shared, 'api-gateway'),
      ],
      controllers: [
        ChatCompletionsController,
        MessagesController,
        EmbeddingsController,
        NativeGenerationController,
        ModelsController,
        CircuitAdminController,
        AccountsAdminController,
        QuotasAdminController,
        ProvidersAdminController,
        ProviderCommandsController,
        ProviderTestController,
        GatewaysAdminController,
        ConfigAdminController,
        CacheAdminController,
        UsageController,
        PreferencesController,
        AnalyticsController,
        CatalogEventsController,
        AuthEventsController,
      ],
      providers: [
        { provide: ENV, useValue: env },
        QueueBoard,
        // A provider of its own too: the early key check (`Expect: 100-continue`) asks the same instance.
        ApiKeyGuard,
        { provide: APP_GUARD, useExisting: ApiKeyGuard },
        { provide: APP_PIPE, useClass: RequestValidationPipe },
        { provide: APP_FILTER, useClass: ErrorEnvelopeFilter },
        {
          provide: ApiKeyStore,
          inject: [MigratedDatabase],
          useFactory: (db: MigratedDatabase) => new ApiKeyStore(db.dataSource),
        },
        CatalogService,
        tiersProvider,
        ...GOVERNANCE_PROVIDERS,
        ModelAccess,
        AccountsAdminService,
        QuotasAdminService,
        UsageService,
        AnalyticsService,
        { provide: ANALYTICS_CLOCK, useValue: (): Date => new Date() },
        QuotaRebuilder,
        AdmissionService,
        ApiKeyAuthenticator,
        AuthChanges,
        HttpMetrics,
        EarlyConnectionDrain,
        GatewayMetrics,
        GenerationQueue,
        UsageQueue,
        GatewayQueueDepthGauge,
        CacheStats,
        CacheStage,
        Coalescing,
        CacheAdminService,
        CacheWarmer,
        ReplyHub,
        PendingLimit,
        CancellationService,
        IdempotencyService,
        Servable,
        GenerationService,
        ChatCompletionsService,
        MessagesService,
        EmbeddingsService,
        NativeGenerationService,
        JobsService,
        // The Redis clock offset every circuit read of this process uses (DeploymentSignals samples it).
        { provide: RedisClockOffset, useValue: new RedisClockOffset() },
        DeploymentSignals,
        ModelListsService,
        PreferencesService,
        CircuitAdminService,
        ControlChannel,
        CatalogChanges,
        PluginAllowance,
        ProviderCommandsService,
        ProviderTestService,
        ProviderStatsService,
        ProvidersAdminService,
        ProviderHealthAdminService,
        GatewaysAdminService,
        ConfigTransferService,
      ],
      exports: [ENV],
    };
  }
}
