import { Injectable } from '@nestjs/common';
import { DAY_MS, ErrorCode, GatewayError, type Capability, type HealthRoute, type ProviderSpec } from '@aigw/core';
import { ProviderHealthStore } from '@aigw/entities';
import { CatalogService, MigratedDatabase } from '@aigw/platform';
import { rangeOf } from '../http/time-range';
import { MAX_HEALTH_CHECKS, type ProviderHealthQueryDto } from './provider-health.dto';

const DEFAULT_RANGE_MS = DAY_MS;
const DEFAULT_LIMIT = 200;
/** Retention keeps HEALTH_RETENTION_DAYS (30 by default); a year bounds the scan of one request. */
const MAX_RANGE_DAYS = 366;

export interface HealthCheckView {
  at: string;
  route: HealthRoute;
  ok: boolean;
  latencyMs: number | null;
  status?: number;
  errorClass?: string;
  message?: string;
}

export interface ProviderHealthHistoryView {
  providerId: string;
  from: string;
  to: string;
  /** Share of the range's probes in which at least one route worked, 0..1; null without a probe. */
  uptime: number | null;
  probes: number;
  /** Newest first, at most `limit`. */
  checks: HealthCheckView[];
}

export interface DiscoveredModelView {
  name: string;
  capabilities: Capability[];
  firstSeenAt: string;
}

export interface CatalogModelView {
  name: string;
  /** What the provider (or its gateway) lists it as. */
  upstreamName: string;
  enabled: boolean;
  capabilities: Capability[];
}

export interface ProviderModelsView {
  providerId: string;
  /** When the monitor last read the provider's model list; null: never (the lists below are then empty). */
  refreshedAt: string | null;
  served: DiscoveredModelView[];
  catalog: CatalogModelView[];
  /** Served, but no catalog model goes by that name: candidates to add (nothing is enabled by itself). */
  notInCatalog: DiscoveredModelView[];
  /** In the catalog, but no longer served. */
  noLongerServed: CatalogModelView[];
}

/** Health history and discovered models of a provider, for the admin API (read-only). */
@Injectable()
export class ProviderHealthAdminService {
  private readonly store: ProviderHealthStore;

  constructor(
    private readonly catalog: CatalogService,
    db: MigratedDatabase,
  ) {
    this.store = new ProviderHealthStore(db.dataSource);
  }

  private providerOf(id: string): ProviderSpec {
    const provider = this.catalog.provider(id);
    if (provider === undefined) {
      throw new GatewayError(ErrorCode.NotFound, `No provider '${id}'.`, { param: 'id' });
    }
    return provider;
  }

  async history(id: string, query: ProviderHealthQueryDto): Promise<ProviderHealthHistoryView> {
    this.providerOf(id);
    const { from, to } = rangeOf(query, { now: new Date(), defaultMs: DEFAULT_RANGE_MS, maxDays: MAX_RANGE_DAYS });
    const limit = Math.min(query.limit ?? DEFAULT_LIMIT, MAX_HEALTH_CHECKS);
    // One snapshot: a probe recorded meanwhile is in the checks and the uptime alike, or in neither.
    const { checks: rows, uptime } = await this.store.historyWithUptime(id, from, to, limit);
    return {
      providerId: id,
      from: from.toISOString(),
      to: to.toISOString(),
      uptime: uptime.uptime,
      probes: uptime.probes,
      checks: rows.map((r) => ({
        at: r.at.toISOString(),
        route: r.route,
        ok: r.ok,
        latencyMs: r.latencyMs,
        ...(r.status === null ? {} : { status: r.status }),
        ...(r.errorClass === null ? {} : { errorClass: r.errorClass }),
        ...(r.message === null ? {} : { message: r.message }),
      })),
    };
  }

  async models(id: string): Promise<ProviderModelsView> {
    const provider = this.providerOf(id);
    const found = await this.store.discovered(id);
    const served: DiscoveredModelView[] = found.models.map((m) => ({
      name: m.model,
      capabilities: m.capabilities,
      firstSeenAt: m.firstSeenAt.toISOString(),
    }));
    const catalog: CatalogModelView[] = provider.models.map((m) => ({
      name: m.name,
      upstreamName: m.upstreamName ?? m.name,
      enabled: m.enabled,
      capabilities: m.capabilities,
    }));
    const servedNames = new Set(served.map((m) => m.name));
    const catalogNames = new Set(catalog.flatMap((m) => [m.name, m.upstreamName]));
    const refreshed = found.refreshedAt !== null;
    return {
      providerId: id,
      refreshedAt: found.refreshedAt === null ? null : found.refreshedAt.toISOString(),
      served,
      catalog,
      notInCatalog: served.filter((m) => !catalogNames.has(m.name)),
      noLongerServed: refreshed ? catalog.filter((m) => !servedNames.has(m.upstreamName)) : [],
    };
  }
}
