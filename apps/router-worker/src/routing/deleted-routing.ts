import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { deploymentsOf, type Catalog } from '@aigw/core';
import { CatalogService, REDIS, RedisErrors, RedisKeys } from '@aigw/platform';
import { forgetDeletedRouting, type DeletedRouting as Deleted } from '@aigw/routing';
import type { Redis } from 'ioredis';
import { CircuitGuard } from './circuit-guard';
import { LatencyBook } from './latency-book';
import { ProviderQuotaBook } from './quota-book';
import { RouteBook } from './route-book';

/**
 * After every catalog reload (`provider.changed` or the periodic one), drops what this worker holds in memory of
 * deployments and providers the catalog no longer has, and from then on records nothing of them (the writers look
 * each id up in the catalog's set: no Redis round trip). The admin API deletes their state in Redis right after the
 * deletion commits (forgetDeletedRouting), but until this worker's reload its write-behind flushes and calls that
 * end meanwhile may write some back; so once those writes are answered, this worker deletes the state of what left
 * its catalog once more. A provider re-created with the same id then starts afresh on every replica once each has
 * reloaded.
 */
@Injectable()
export class DeletedRouting implements OnModuleInit {
  private readonly logger = new Logger(DeletedRouting.name);
  /** The catalog of the last reload; null before the first (nothing left it then). */
  private previous: Catalog | null = null;

  constructor(
    private readonly catalog: CatalogService,
    private readonly circuits: CircuitGuard,
    private readonly latency: LatencyBook,
    private readonly quotas: ProviderQuotaBook,
    private readonly routes: RouteBook,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly errors: RedisErrors,
  ) {}

  onModuleInit(): void {
    this.catalog.onReload((catalog) => this.retain(catalog));
  }

  /** Resolves once what left the catalog is forgotten in Redis too (a failure is counted and logged, not thrown). */
  async retain(catalog: Catalog): Promise<void> {
    const deployments = new Set(deploymentsOf(catalog).map((d) => d.id));
    const providers = new Set(catalog.providers.map((p) => p.id));
    this.circuits.retain(deployments);
    this.latency.retain(deployments);
    this.quotas.retainProviders(providers);
    this.routes.retainProviders(providers);

    const gone = this.previous === null ? [] : deletedSince(this.previous, providers, deployments);
    this.previous = catalog;
    if (gone.length === 0) {
      return;
    }
    try {
      // Writes of the dropped ids sent before the reload land first, then the deletion: none comes after it.
      await Promise.all([this.circuits.settled(), this.latency.flush(), this.quotas.flush()]);
      await Promise.all(gone.map((deleted) => forgetDeletedRouting(this.redis, this.keys.prefix, deleted)));
      this.logger.log(`forgot the routing state of ${gone.map((d) => d.providerId).join(', ')} (left the catalog)`);
    } catch (err) {
      this.errors.report('routing_forget', err);
    }
  }
}

/** What `previous` had that the reloaded catalog (its provider and deployment ids) lacks, by provider. */
function deletedSince(previous: Catalog, providers: ReadonlySet<string>, deployments: ReadonlySet<string>): Deleted[] {
  const dropped = new Map<string, string[]>(previous.providers.map((p) => [p.id, []]));
  for (const d of deploymentsOf(previous)) {
    if (!deployments.has(d.id)) {
      dropped.get(d.provider.id)?.push(d.id);
    }
  }
  return [...dropped]
    .map(([providerId, deploymentIds]) => ({ providerId, deploymentIds, wholeProvider: !providers.has(providerId) }))
    .filter((g) => g.wholeProvider || g.deploymentIds.length > 0);
}
