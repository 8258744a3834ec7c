import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import {
  type Catalog,
  ErrorClass,
  ProviderCallError,
  type GatewaySpec,
  type HealthRoute,
  type ProviderSpec,
  type Route,
} from '@aigw/core';
import {
  AdapterRegistry,
  HttpPool,
  probePoolKey,
  probeProviderOf,
  probeRoute,
  type ProbeProvider,
  type RouteProbe,
} from '@aigw/adapters';
import type { RouteCheck } from '@aigw/entities';
import { CatalogService, ENV } from '@aigw/platform';
import type { MonitorEnv } from '../config/monitor-env';
import { probeBudgetMs, probeEveryMs } from './probe-interval';

/**
 * The pools the probes of `catalog` send over (probePoolKey): each provider's direct route, each gateway as a route
 * and on its own (probed as provider `gateway:<id>`).
 */
function probeTargets(catalog: Catalog): { poolKey: string; baseUrl: string }[] {
  return [
    ...catalog.providers.map((p) => ({ poolKey: probePoolKey(p.id), baseUrl: p.baseUrl })),
    ...catalog.gateways.flatMap((g) => [
      { poolKey: probePoolKey(g.id), baseUrl: g.baseUrl },
      { poolKey: probePoolKey(`gateway:${g.id}`), baseUrl: g.baseUrl },
    ]),
  ];
}

/** Grace past a list's timeout for the adapter's own timer, whose error describes it better. */
const LIST_GRACE_MS = 100;

/**
 * A model list read, rejected once `timeoutMs` (and a little grace) passed even when the adapter does not bound itself:
 * a plugin whose listModels ignores the signal and never settles held a discovery job, and one of the monitor's
 * HEALTH_CONCURRENCY slots, for good (one more every HEALTH_DISCOVERY_INTERVAL_S, until no probe ran at all).
 */
function bounded<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new ProviderCallError(ErrorClass.Timeout, `no model list within ${timeoutMs} ms`)),
      timeoutMs + LIST_GRACE_MS,
    );
  });
  work.catch(() => undefined);
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

/** One probed route: the history row, and what the probe saw (models, diagnosis) for the callers that want it. */
export interface ProbedRoute {
  check: RouteCheck;
  probe: RouteProbe;
}

/** The routes the catalog sends a provider's traffic over: both for `auto`. */
export function routesOf(provider: ProviderSpec): Route[] {
  switch (provider.routing) {
    case 'direct':
      return ['direct'];
    case 'gateway':
      return ['gateway'];
    case 'auto':
      return ['direct', 'gateway'];
  }
}

function checkOf(route: HealthRoute, probe: RouteProbe): RouteCheck {
  return {
    route,
    ok: probe.ok,
    latencyMs: probe.latencyMs,
    status: probe.status ?? null,
    errorClass: probe.ok ? null : (probe.errorClass ?? ErrorClass.Provider),
    // Diagnoses are written without secrets (the probe library scrubs keys and URL credentials).
    message: probe.diagnosis === undefined ? null : `${probe.diagnosis.code}: ${probe.diagnosis.message}`,
  };
}

/**
 * Probes providers and gateways over the adapters' cheap health checks (the model list, or a health endpoint);
 * a billed completion only where the catalog opts in (`probe: completion`). Its own connection pool, so probes
 * never queue behind traffic and traffic never waits on probes.
 */
@Injectable()
export class Prober implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly adapters: AdapterRegistry;

  constructor(
    @Inject(ENV) private readonly env: MonitorEnv,
    private readonly catalog: CatalogService,
  ) {
    this.adapters = new AdapterRegistry(
      new HttpPool({ defaultMaxConnections: 4, allowLinkLocal: env.PROVIDER_ALLOW_LINK_LOCAL }),
    );
    // As a worker does: the catalog file's plugins load before it is seeded, so one that cannot is not written.
    catalog.checkBeforeSeed((file) => this.adapters.loadPlugins(file.providers.filter((p) => p.enabled)));
  }

  /** After each catalog reload, the pools of origins no probe uses any more (a baseUrl an admin changed) close. */
  onApplicationBootstrap(): void {
    this.catalog.onReload((catalog) => {
      this.adapters.retainPools(probeTargets(catalog));
    });
  }

  onApplicationShutdown(): Promise<void> {
    return this.adapters.close();
  }

  /**
   * PROBE_TIMEOUT_MS, or the route's `timeoutMs` when shorter, and never past the subject's probe interval
   * (`everyMs`) less the time to record it (`probeBudgetMs`): the scheduler adds the next probe as one starts, so a
   * longer probe of a provider that does not answer would overlap the next one (which then finds the cycle lock
   * held and skips).
   */
  private timeoutOf(timeoutMs: number, everyMs = Infinity): number {
    return Math.max(1, Math.floor(Math.min(this.env.PROBE_TIMEOUT_MS, timeoutMs, probeBudgetMs(everyMs))));
  }

  /** Every route the provider's traffic may take, concurrently. */
  async probeProvider(provider: ProviderSpec, gateways: readonly GatewaySpec[]): Promise<ProbedRoute[]> {
    const subject = probeProviderOf(provider);
    const everyMs = probeEveryMs(this.env, provider);
    const timeoutMs = this.timeoutOf(provider.timeoutMs, everyMs);
    return Promise.all(
      routesOf(provider).map(async (route): Promise<ProbedRoute> => {
        if (route === 'direct') {
          const probe = await probeRoute({ adapters: this.adapters, provider: subject, timeoutMs, route });
          return { check: checkOf(route, probe), probe };
        }
        const gateway = gateways.find((g) => g.id === provider.gateway);
        if (gateway === undefined) {
          const probe: RouteProbe = {
            route,
            ok: false,
            latencyMs: 0,
            errorClass: ErrorClass.Gateway,
            diagnosis: {
              code: 'not_found',
              message: `gateway '${provider.gateway ?? ''}' is not in the catalog`,
              suggestion: 'add the gateway under gateways:, or route this provider direct',
            },
          };
          return { check: checkOf(route, probe), probe };
        }
        const probe = await probeRoute({
          adapters: this.adapters,
          provider: subject,
          timeoutMs: this.timeoutOf(gateway.timeoutMs, everyMs),
          route,
          gateway,
        });
        return { check: checkOf(route, probe), probe };
      }),
    );
  }

  /** A gateway (a LiteLLM proxy) on its own: its model list with its key (route `health` in the history). */
  async probeGateway(gateway: GatewaySpec): Promise<ProbedRoute> {
    const provider: ProbeProvider = {
      id: `gateway:${gateway.id}`,
      kind: 'openai',
      baseUrl: gateway.baseUrl,
      ...(gateway.apiKey === undefined ? {} : { apiKey: gateway.apiKey }),
    };
    const probe = await probeRoute({
      adapters: this.adapters,
      provider,
      timeoutMs: this.timeoutOf(gateway.timeoutMs, probeEveryMs(this.env)),
      route: 'direct',
    });
    return { check: checkOf('health', probe), probe };
  }

  /**
   * The models `route` serves for the provider (through the gateway: every model the proxy serves). Rejects when
   * the list cannot be read.
   */
  async listModels(provider: ProviderSpec, route: Route, gateways: readonly GatewaySpec[]): Promise<string[]> {
    if (route === 'direct') {
      const adapter = this.adapters.get(provider.kind, {
        id: provider.id,
        ...(provider.plugin === undefined ? {} : { plugin: provider.plugin }),
      });
      const target = {
        baseUrl: provider.baseUrl,
        model: '',
        timeoutMs: this.timeoutOf(provider.timeoutMs),
        poolKey: `probe:${provider.id}`,
        ...(provider.apiKey === undefined || provider.apiKey === '' ? {} : { apiKey: provider.apiKey }),
      };
      return bounded(adapter.listModels(target, AbortSignal.timeout(target.timeoutMs)), target.timeoutMs);
    }
    const gateway = gateways.find((g) => g.id === provider.gateway);
    if (gateway === undefined) {
      throw new Error(`gateway '${provider.gateway ?? ''}' is not in the catalog`);
    }
    const target = {
      baseUrl: gateway.baseUrl,
      model: '',
      timeoutMs: this.timeoutOf(gateway.timeoutMs),
      poolKey: `probe:${gateway.id}`,
      ...(gateway.apiKey === undefined || gateway.apiKey === '' ? {} : { apiKey: gateway.apiKey }),
    };
    return bounded(
      this.adapters.get('openai').listModels(target, AbortSignal.timeout(target.timeoutMs)),
      target.timeoutMs,
    );
  }
}
