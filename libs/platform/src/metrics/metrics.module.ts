import { Global, Module, type DynamicModule } from '@nestjs/common';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { METRICS_REGISTRY, MetricsController, MetricsExposition } from './metrics';
import { METRICS_PORT_OPTIONS, MetricsListener, type MetricsPortOptions } from './metrics-listener';

export interface MetricsOptions {
  /**
   * Node's default process metrics (CPU, memory, GC, event loop) under the `aigw_` prefix. Exactly one app of a
   * process collects them: the others of a shared process turn them off.
   */
  processMetrics: boolean;
  /**
   * `/metrics` on a port of its own (METRICS_PORT) and not on the app's: the api-gateway's port is public. Unset,
   * the app's port serves it.
   */
  port?: MetricsPortOptions;
}

/**
 * One registry per app, served at `/metrics` (on the app's port, or on `port`) with Node's default process metrics
 * under the `aigw_` prefix.
 */
@Global()
@Module({})
export class MetricsModule {
  static forRoot(opts: MetricsOptions = { processMetrics: true }): DynamicModule {
    const port = opts.port;
    return {
      module: MetricsModule,
      controllers: port === undefined ? [MetricsController] : [],
      providers: [
        ...(port === undefined ? [] : [{ provide: METRICS_PORT_OPTIONS, useValue: port }, MetricsListener]),
        {
          provide: METRICS_REGISTRY,
          useFactory: () => {
            const registry = new Registry();
            if (opts.processMetrics) {
              collectDefaultMetrics({ register: registry, prefix: 'aigw_' });
            }
            return registry;
          },
        },
        MetricsExposition,
      ],
      exports: [METRICS_REGISTRY, MetricsExposition],
    };
  }
}
