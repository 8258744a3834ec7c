import type { Provider } from '@nestjs/common';
import { ENV } from '@aigw/platform';
import type { WorkerEnv } from '../config/worker-env';
import { CircuitStateGauge } from '../metrics/circuit-state.gauge';
import { ProviderQuotaGauge } from '../metrics/provider-quota.gauge';
import { ATTEMPT_LOOP_PROVIDER } from './attempt-loop.provider';
import { CircuitGuard } from './circuit-guard';
import { DeletedRouting } from './deleted-routing';
import { HistoricalLatency } from './historical-latency';
import { LatencyBook } from './latency-book';
import { PreferenceReader } from './preference-reader';
import { PreferenceUsage } from './preference-usage';
import { ProviderPools } from './provider-pools';
import { ProviderQuotaBook } from './quota-book';
import { RotationCounter } from './rotation-counter';
import { RouteBook } from './route-book';
import { RoutePlanner } from './route-planner';
import { ROUTING_CONFIG, routingConfigOf } from './routing-config';

/** The routing engine's providers (they use the catalog, metrics and adapters of the worker module). */
export const ROUTING_PROVIDERS: Provider[] = [
  { provide: ROUTING_CONFIG, inject: [ENV], useFactory: (env: WorkerEnv) => routingConfigOf(env) },
  CircuitGuard,
  CircuitStateGauge,
  DeletedRouting,
  HistoricalLatency,
  LatencyBook,
  PreferenceReader,
  PreferenceUsage,
  ProviderQuotaBook,
  ProviderQuotaGauge,
  ProviderPools,
  RotationCounter,
  RouteBook,
  RoutePlanner,
  ATTEMPT_LOOP_PROVIDER,
];
