import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { DAY_MS, DEFAULT_CIRCUIT_CONFIG, type Deployment } from '@aigw/core';
import { DeploymentStatsStore, type DeploymentStats, type ProviderHealthStatus } from '@aigw/entities';
import { ENV, REDIS, RedisErrors, RedisKeys, describeError, MigratedDatabase, waitAtMost } from '@aigw/platform';
import { CircuitBreakerStore, RedisClockOffset, routingKeyPrefix, type CircuitStatus } from '@aigw/routing';
import type { Redis } from 'ioredis';
import type { GatewayEnv } from '../config/gateway-env';

/** Circuit states change fast, so they are read per listing, but at most once per this long per replica. */
export const CIRCUIT_CACHE_MS = 1_000;

/**
 * How long a listing waits for the circuit states: a Redis that holds the read (a half-open network, a paused server)
 * would hold the listing until ioredis gives up; past this it is shown as if Redis had failed (every circuit closed).
 */
export const CIRCUIT_READ_WAIT_MS = 1_000;

const NO_CIRCUITS: ReadonlyMap<string, CircuitStatus> = new Map();

/** The slow-moving signals: recomputed every MODELS_STATS_REFRESH_S, never on a request. */
export interface SlowSignals {
  /** Per deployment id (`provider/model`), the last 24 h of usage_records. */
  stats: ReadonlyMap<string, DeploymentStats>;
  /** The health monitor's status per provider id. */
  health: ReadonlyMap<string, ProviderHealthStatus>;
}

/**
 * What makes a deployment unable to take a request now; null: it can. `cooldown`: nothing failed, its provider asked
 * for a wait (a 429, 503 or 529 with Retry-After) and every worker leaves it alone until then (`cooldownUntilOf`).
 * `model_unserved`: the provider answers, but its own model list lacked the model at the monitor's last probe
 * (`CatalogService.unservedDeployments`); routing still calls it when nothing else is left.
 */
export type Unavailability =
  'provider_disabled' | 'model_disabled' | 'circuit_open' | 'cooldown' | 'health_failing' | 'model_unserved';

export const UNAVAILABILITIES: readonly Unavailability[] = [
  'provider_disabled',
  'model_disabled',
  'circuit_open',
  'cooldown',
  'health_failing',
  'model_unserved',
];

/**
 * The one availability rule of the listing and the preferences API: enabled, circuit not open, not set aside for a
 * wait its provider asked for, health not failing, model not missing from the provider's model list (`unserved`).
 */
export function unavailabilityOf(
  d: Deployment,
  circuit: CircuitStatus | undefined,
  health: ProviderHealthStatus | undefined,
  unserved = false,
): Unavailability | null {
  if (!d.provider.enabled) {
    return 'provider_disabled';
  }
  if (!d.model.enabled) {
    return 'model_disabled';
  }
  // `available` is false only while an open circuit still refuses calls (past CB_OPEN_MS it admits probes), or while
  // a cooldown does: `cooldownStatus` says that only the cooldown refuses (an open circuit cooling too is open).
  if (circuit !== undefined && !circuit.available) {
    return circuit.cooldownStatus === undefined ? 'circuit_open' : 'cooldown';
  }
  if (health === 'failing') {
    return 'health_failing';
  }
  return unserved ? 'model_unserved' : null;
}

/** When the cooldown that makes a deployment `cooldown` ends (ISO time), or null when none is why it is refused. */
export function cooldownUntilOf(circuit: CircuitStatus | undefined): string | null {
  return circuit?.cooldownStatus === undefined || circuit.cooldownUntil === undefined
    ? null
    : new Date(circuit.cooldownUntil).toISOString();
}

/**
 * Usage statistics, the monitor's health and the shared circuit states, as the models listing and the
 * preferences API need them. Statistics and health come from PostgreSQL in the background (one grouped query
 * over the last day of usage_records and one read of providers per refresh); circuit states from Redis, one
 * pipelined read per CIRCUIT_CACHE_MS at most.
 */
@Injectable()
export class DeploymentSignals implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(DeploymentSignals.name);
  private readonly store: DeploymentStatsStore;
  private readonly circuitStore: CircuitBreakerStore;
  private slow: SlowSignals = { stats: new Map(), health: new Map() };
  private circuitCache: { at: number; ids: string; states: Promise<ReadonlyMap<string, CircuitStatus>> } | null = null;
  private timer?: NodeJS.Timeout;
  private refreshing?: Promise<void>;
  private lastFailure = 0;

  constructor(
    @Inject(ENV) private readonly env: GatewayEnv,
    @Inject(REDIS) private readonly redis: Redis,
    keys: RedisKeys,
    private readonly errors: RedisErrors,
    db: MigratedDatabase,
    private readonly clockOffset: RedisClockOffset,
  ) {
    this.store = new DeploymentStatsStore(db.dataSource);
    // Reads only: of the workers' config, what decides whether an open or half-open circuit admits a call now.
    this.circuitStore = new CircuitBreakerStore(
      redis,
      routingKeyPrefix(keys.prefix),
      {
        ...DEFAULT_CIRCUIT_CONFIG,
        openMs: env.CB_OPEN_MS,
        halfOpenMaxProbes: env.CB_HALF_OPEN_PROBES,
      },
      { clockOffset },
    );
  }

  async onModuleInit(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.env.MODELS_STATS_REFRESH_S * 1000);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  /** The statistics and health as last refreshed (the same object until the next refresh). */
  signals(): SlowSignals {
    return this.slow;
  }

  /**
   * Recomputes statistics and health, and samples the Redis clock offset the circuit reads use (one `TIME`, at most
   * once per MODELS_STATS_REFRESH_S: the gateway runs no circuit script to learn it from); a failure keeps the previous
   * ones. Concurrent calls share one refresh.
   */
  refresh(): Promise<void> {
    this.refreshing ??= Promise.all([this.load(), this.syncClock()])
      .then(() => undefined)
      .finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async syncClock(): Promise<void> {
    try {
      // A little under the period, so a timer firing early still samples. A Redis that holds the command does not hold
      // the refresh (nor the boot); a reply that late would be no sample anyway (OFFSET_SAMPLE_MAX_RTT_MS).
      await waitAtMost(this.clockOffset.sync(this.redis, this.env.MODELS_STATS_REFRESH_S * 900), CIRCUIT_READ_WAIT_MS);
    } catch (err) {
      this.errors.report('circuit_read', err);
    }
  }

  private async load(): Promise<void> {
    try {
      const [rows, health] = await Promise.all([
        this.store.since(new Date(Date.now() - DAY_MS)),
        this.store.providerHealth(),
      ]);
      this.slow = { stats: new Map(rows.map((r) => [`${r.provider}/${r.model}`, r])), health };
    } catch (err) {
      const now = Date.now();
      if (now - this.lastFailure > 60_000) {
        this.logger.warn(`model statistics not refreshed, keeping the previous ones: ${describeError(err)}`);
      }
      this.lastFailure = now;
    }
  }

  /**
   * Circuit states of `ids`, at most CIRCUIT_CACHE_MS old; empty (all closed) when Redis cannot be read, or does not
   * answer within CIRCUIT_READ_WAIT_MS.
   */
  circuits(ids: readonly string[]): Promise<ReadonlyMap<string, CircuitStatus>> {
    const now = Date.now();
    const key = ids.join('\n');
    if (this.circuitCache !== null && this.circuitCache.ids === key && now - this.circuitCache.at < CIRCUIT_CACHE_MS) {
      return this.circuitCache.states;
    }
    const read = this.circuitStore.states(ids).catch((err: unknown): ReadonlyMap<string, CircuitStatus> => {
      this.errors.report('circuit_read', err);
      return NO_CIRCUITS;
    });
    // One timer per read (one per CIRCUIT_CACHE_MS at most), cleared with its answer.
    const states = waitAtMost(read, CIRCUIT_READ_WAIT_MS).then((found) => found ?? NO_CIRCUITS);
    this.circuitCache = { at: now, ids: key, states };
    return states;
  }

  /** Fresh signals of one deployment, for a write that must not trust a cached view (a preference being stored). */
  async current(d: Deployment): Promise<{ circuit: CircuitStatus | undefined; health: ProviderHealthStatus }> {
    const [circuits, health] = await Promise.all([this.circuitStore.states([d.id]), this.store.providerHealth()]);
    return { circuit: circuits.get(d.id), health: health.get(d.provider.id) ?? 'unknown' };
  }
}
