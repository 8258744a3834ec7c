import { Injectable } from '@nestjs/common';
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
  };
}

const UNKNOWN_HEALTH: ProviderListItem['health'] = {
  status: 'unknown',
  consecutiveFailures: 0,
  lastCheckAt: null,
  lastError: null,
};

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
                },
          ...(stats.get(p.id) as ProviderStats),
        };
      }),
    };
  }
}
