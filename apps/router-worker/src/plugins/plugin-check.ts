import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { AdapterRegistry } from '@aigw/adapters';
import { CatalogService } from '@aigw/platform';

/**
 * Loads every `kind: plugin` module the catalog names once the catalog is in, so a missing module or one that does
 * not implement the adapter interface stops the worker at boot (naming the provider) instead of failing requests.
 * Plugins added to the catalog later load on first use.
 */
@Injectable()
export class PluginCheck implements OnApplicationBootstrap {
  private readonly logger = new Logger(PluginCheck.name);

  constructor(
    private readonly catalog: CatalogService,
    private readonly adapters: AdapterRegistry,
  ) {
    // The catalog file's plugins load before it is seeded: one that cannot would otherwise be written to PostgreSQL,
    // for every worker that starts after to stop on it.
    catalog.checkBeforeSeed((file) => adapters.loadPlugins(file.providers.filter((p) => p.enabled)));
  }

  onApplicationBootstrap(): void {
    const loaded = this.adapters.loadPlugins(this.catalog.current.providers.filter((p) => p.enabled));
    if (loaded > 0) {
      this.logger.log(`loaded ${loaded} provider plugin(s)`);
    }
  }
}
