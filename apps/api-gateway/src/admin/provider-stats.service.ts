import { Inject, Injectable } from '@nestjs/common';
import { DAY_MS, DEFAULT_CIRCUIT_CONFIG, type CircuitState, type ProviderSpec, type Route } from '@aigw/core';
import { UsageAnalyticsStore } from '@aigw/entities';
import { ENV, REDIS, MigratedDatabase } from '@aigw/platform';
import {
  CircuitBreakerStore,
  ProviderQuotaStore,
  RedisClockOffset,
  RouteMemory,
  routingKeyPrefix,
  type ProviderQuotas,
} from '@aigw/routing';
import type { Redis } from 'ioredis';
import type { GatewayEnv } from '../config/gateway-env';
import type { ProviderQuotaDto } from './provider-quota.dto';
import { quotaView } from './provider-quota-view';

/** What the admin providers list adds to each provider's settings and health. */
export interface ProviderStats {
  /** The worst state among its deployments (`open` if any is, then `half_open`); null: no models. */
  circuit: CircuitState | null;
  /**
   * Per deployment (`provider/model`), from the breakers the workers share in Redis. `cooldownUntil`: while a wait its
   * provider asked for (a 429, 503 or 529 with Retry-After) runs, when it ends (ISO time): no worker calls the
   * deployment until then, whatever its state says (closed, usually). The circuit reset clears it too.
   */
  circuits: { id: string; state: CircuitState; cooldownUntil: string | null }[];
  /**
   * The route requests take now: `direct` and `gateway` providers their own; an `auto` provider the route the
   * workers remembered last (direct until a direct call failed on the network).
   */
  routeInUse: Route;
  /** The last 24 hours (from the usage rollups). */
  usage24h: ProviderUsage;
  /** Its rate limits as the workers last read them from its responses; null: none seen (see ProviderQuotaDto). */
  quota: ProviderQuotaDto | null;
}

export interface ProviderUsage {
  /**
   * Calls to the provider: requests it answered or failed, and the failed attempts of requests another provider then
   * answered or failed (a fallback's). Response-cache hits and coalesced followers, which call no provider, are not
   * included (a failed leader's followers do not multiply its failure).
   */
  requests: number;
  /** Those calls that failed. */
  failures: number;
  /** Answers replayed from the response cache under this provider's name. */
  cacheHits: number;
  costUsd: number;
}

const NO_USAGE: ProviderUsage = { requests: 0, failures: 0, cacheHits: 0, costUsd: 0 };

/**
 * Circuit states, route in use, quota and 24 h usage for many providers: one Redis pipeline for the circuits, one
 * GET per `auto` provider, one HGETALL for the quotas, one grouped query answered mostly from the hourly rollups. An
 * admin read, never on the request path.
 */
@Injectable()
export class ProviderStatsService {
  private readonly circuits: CircuitBreakerStore;
  private readonly routes: RouteMemory;
  private readonly usage: UsageAnalyticsStore;
  private readonly quotas: ProviderQuotaStore;

  constructor(
    @Inject(ENV) env: GatewayEnv,
    @Inject(REDIS) redis: Redis,
    db: MigratedDatabase,
    clockOffset: RedisClockOffset,
  ) {
    // Reads only: the thresholds of the workers' own config do not matter here. Times on the Redis clock, as the
    // listing's refresh samples it.
    this.circuits = new CircuitBreakerStore(redis, routingKeyPrefix(env.REDIS_PREFIX), DEFAULT_CIRCUIT_CONFIG, {
      clockOffset,
    });
    this.routes = new RouteMemory(redis, routingKeyPrefix(env.REDIS_PREFIX));
    this.usage = new UsageAnalyticsStore(db.dataSource);
    this.quotas = new ProviderQuotaStore(redis, env.REDIS_PREFIX);
  }

  async of(providers: readonly ProviderSpec[], now = new Date()): Promise<Map<string, ProviderStats>> {
    const deploymentIds = providers.flatMap((p) => p.models.map((m) => `${p.id}/${m.name}`));
    const [states, usage, remembered, quotas] = await Promise.all([
      this.circuits.states(deploymentIds),
      this.usage24h(now),
      Promise.all(providers.map((p) => (p.routing === 'auto' ? this.routes.get(p.id) : Promise.resolve(null)))),
      this.quotas.readAll(),
    ]);
    return new Map(
      providers.map((p, i) => {
        const circuits = p.models.map((m) => {
          const id = `${p.id}/${m.name}`;
          const status = states.get(id);
          const until = status?.cooldownUntil;
          return {
            id,
            state: status?.state ?? 'closed',
            cooldownUntil: until === undefined ? null : new Date(until).toISOString(),
          };
        });
        return [p.id, this.statsOf(p, circuits, remembered[i], usage, quotas.get(p.id), now)];
      }),
    );
  }

  private statsOf(
    p: ProviderSpec,
    circuits: ProviderStats['circuits'],
    remembered: Route | null,
    usage: Map<string, ProviderUsage>,
    quotas: ProviderQuotas | undefined,
    now: Date,
  ): ProviderStats {
    const worst = (['open', 'half_open', 'closed'] as const).find((s) => circuits.some((c) => c.state === s)) ?? null;
    const routeInUse = p.routing === 'auto' ? (remembered ?? 'direct') : p.routing;
    return {
      circuit: worst,
      circuits,
      routeInUse,
      usage24h: usage.get(p.id) ?? NO_USAGE,
      quota: quotaView(quotas, p.routing, routeInUse, now.getTime()),
    };
  }

  private async usage24h(now: Date): Promise<Map<string, ProviderUsage>> {
    const groups = await this.usage.aggregate({
      from: new Date(now.getTime() - DAY_MS),
      to: now,
      groupBy: 'provider',
      latencies: false,
    });
    const out = new Map<string, ProviderUsage>();
    for (const g of groups) {
      if (g.key !== null) {
        out.set(g.key, {
          requests: g.calls,
          failures: g.failedCalls,
          cacheHits: g.cacheHits,
          costUsd: g.costUsd,
        });
      }
    }
    return out;
  }
}
