import { Injectable } from '@nestjs/common';
import type { ProviderSpec } from '@aigw/core';
import { ProviderHealthStore, type HealthView } from '@aigw/entities';
import { MigratedDatabase } from '@aigw/platform';
import { CatalogChanges } from './catalog-changes';
import { providerView, type ProviderView } from './catalog-docs';
import { ProviderStatsService, type ProviderStats } from './provider-stats.service';

/** A provider in the admin list: its settings (never its key), health from the monitor, and live statistics. */
export interface ProviderListItem extends ProviderView, ProviderStats {
  health: {
    status: HealthView['status'];
    consecutiveFailures: number;
    lastCheckAt: string | null;
    lastError: string | null;
    /**
     * Its models (catalog names) whose upstream name its own model list lacked at the monitor's last probe
     * (`lastCheckAt`), while that verdict holds (`unservedOf`): the deployments routing tries last.
     */
    unservedModels: string[];
  };
}

const UNKNOWN_HEALTH: ProviderListItem['health'] = {
  status: 'unknown',
  consecutiveFailures: 0,
  lastCheckAt: null,
  lastError: null,
  unservedModels: [],
};

/** The provider's models the monitor found missing, by catalog name (the monitor records upstream names). */
function unservedNames(provider: ProviderSpec, upstream: readonly string[]): string[] {
  if (upstream.length === 0) {
    return [];
  }
  const missing = new Set(upstream);
  return provider.models.filter((m) => missing.has(m.upstreamName ?? m.name)).map((m) => m.name);
}

/** The admin providers list: one catalog read, one health read, one stats pass (see ProviderStatsService). */
@Injectable()
export class ProvidersAdminService {
  private readonly health: ProviderHealthStore;

  constructor(
    private readonly changes: CatalogChanges,
    private readonly stats: ProviderStatsService,
    db: MigratedDatabase,
  ) {
    this.health = new ProviderHealthStore(db.dataSource);
  }

  async list(): Promise<{ data: ProviderListItem[] }> {
    const state = await this.changes.read((tx) => tx.state());
    const providers = state.catalog.providers;
    const [health, stats] = await Promise.all([this.health.providerHealth(), this.stats.of(providers)]);
    return {
      data: providers.map((p) => {
        const h = health.get(p.id);
        return {
          ...providerView(p, state.providerSources.get(p.id) ?? null),
          health:
            h === undefined
              ? UNKNOWN_HEALTH
              : {
                  status: h.status,
                  consecutiveFailures: h.consecutiveFailures,
                  lastCheckAt: h.lastCheckAt === null ? null : h.lastCheckAt.toISOString(),
                  lastError: h.lastError,
                  unservedModels: unservedNames(p, h.unservedModels),
                },
          ...(stats.get(p.id) as ProviderStats),
        };
      }),
    };
  }
}
