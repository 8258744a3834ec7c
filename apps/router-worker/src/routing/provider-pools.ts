import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { AdapterRegistry } from '@aigw/adapters';
import type { Catalog } from '@aigw/core';
import { CatalogService } from '@aigw/platform';
import { routeOptions } from './route-options';

/**
 * After each catalog reload, closes the connection pools no deployment's route uses any more: a provider whose
 * baseUrl an admin changed kept its old origin's pool (sockets, memory) open in every worker until a restart. What
 * was learnt of servers no route calls any more (embeddings batch limits) is forgotten alike. A pool
 * closes once its in-flight calls are done; a call still holding the old target gets a new one, closed by the next
 * reload (periodic, at most CATALOG_RELOAD_S later). The health monitor probes over its own pools, apart from these,
 * also when it shares the process (all-in-one).
 */
@Injectable()
export class ProviderPools implements OnApplicationBootstrap {
  private readonly logger = new Logger(ProviderPools.name);

  constructor(
    private readonly catalog: CatalogService,
    private readonly adapters: AdapterRegistry,
  ) {}

  onApplicationBootstrap(): void {
    this.catalog.onReload((catalog) => this.retain(catalog));
  }

  private retain(catalog: Catalog): void {
    // `null`: an `auto` provider gets both its routes, whichever it remembers.
    const targets = this.catalog
      .deployments()
      .flatMap((d) => routeOptions(d, catalog.gateways, null).map((o) => o.target));
    this.adapters.retainLearnt(targets);
    const closed = this.adapters.retainPools(targets);
    if (closed > 0) {
      this.logger.log(`closing ${closed} provider connection pool(s) no deployment uses any more`);
    }
  }
}
