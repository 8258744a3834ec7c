import { Injectable, type OnModuleInit } from '@nestjs/common';
import { deploymentsOf, type Catalog } from '@aigw/core';
import { CatalogService } from '@aigw/platform';
import { CircuitGuard } from './circuit-guard';
import { LatencyBook } from './latency-book';
import { ProviderQuotaBook } from './quota-book';

/**
 * After every catalog reload (`provider.changed` or the periodic one), drops what this worker holds in memory of
 * deployments and providers the catalog no longer has. The admin API deletes their state in Redis
 * (forgetDeletedRouting); this keeps a worker's pending writes and last snapshots from bringing it back, so a
 * provider re-created with the same id starts afresh on every replica.
 */
@Injectable()
export class DeletedRouting implements OnModuleInit {
  constructor(
    private readonly catalog: CatalogService,
    private readonly circuits: CircuitGuard,
    private readonly latency: LatencyBook,
    private readonly quotas: ProviderQuotaBook,
  ) {}

  onModuleInit(): void {
    this.catalog.onReload((catalog) => this.retain(catalog));
  }

  retain(catalog: Catalog): void {
    const deployments = new Set(deploymentsOf(catalog).map((d) => d.id));
    this.circuits.retain(deployments);
    this.latency.retain(deployments);
    this.quotas.retainProviders(new Set(catalog.providers.map((p) => p.id)));
  }
}
