import { Inject, Injectable, Logger } from '@nestjs/common';
import { ControlPattern, type ProviderChangedMessage } from '@aigw/core';
import { CatalogAdminStore, type CatalogTx } from '@aigw/entities';
import { CatalogService, ControlChannel, ENV, MigratedDatabase } from '@aigw/platform';
import type { GatewayEnv } from '../config/gateway-env';

/**
 * What a change that changes nothing answers with (a PATCH of the values a record already has): nothing is written,
 * audited or announced, and the record keeps its source (a file provider stays the file's, so the next boot's seed
 * still updates it).
 */
export class Unchanged<T> {
  constructor(readonly view: T) {}
}

/**
 * Runs an admin change to the catalog in one transaction, then makes it live: this replica reloads before the
 * answer goes out, and `provider.changed` tells every worker, monitor and other gateway replica to reload now
 * (each also reloads every CATALOG_RELOAD_S, should a message be lost).
 */
@Injectable()
export class CatalogChanges {
  private readonly logger = new Logger(CatalogChanges.name);
  private readonly store: CatalogAdminStore;

  constructor(
    @Inject(ENV) private readonly env: GatewayEnv,
    db: MigratedDatabase,
    private readonly catalog: CatalogService,
    private readonly control: ControlChannel,
  ) {
    // The catalog's own box: admin writes seal with the keys its reads open with.
    this.store = new CatalogAdminStore(db.dataSource, catalog.secrets);
  }

  /** Reads only (no reload, no message): e.g. a dry-run import. */
  read<T>(work: (tx: CatalogTx) => Promise<T>): Promise<T> {
    return this.store.transaction(work);
  }

  /** `work` answers `Unchanged` when the change would change nothing: no reload, no message, the view as is. */
  async apply<T>(providerId: string | null, work: (tx: CatalogTx) => Promise<T | Unchanged<T>>): Promise<T> {
    const result = await this.store.transaction(work);
    if (result instanceof Unchanged) {
      return result.view;
    }
    try {
      await this.catalog.reload();
    } catch (err) {
      this.logger.warn(`catalog reload after an admin change failed: ${err instanceof Error ? err.message : 'error'}`);
    }
    const message: ProviderChangedMessage = { ns: this.env.REDIS_PREFIX, providerId };
    this.control.emit(ControlPattern.ProviderChanged, message, 'catalog_notify');
    return result;
  }
}
