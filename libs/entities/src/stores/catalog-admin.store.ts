import type { Catalog, GatewaySpec, ModelSpec, ProviderSpec } from '@aigw/core';
import type { DataSource, EntityManager } from 'typeorm';
import { GatewayEntity } from '../entities/gateway.entity';
import { ModelEntity } from '../entities/model.entity';
import { ProviderEntity, type ProviderSource } from '../entities/provider.entity';
import { advisoryLockKey, checkSchemaName } from '../schema-name';
import type { SecretBox } from '../secret-box';
import { AuditLogStore, type AuditEntry } from './audit-log.store';
import { resealSecret } from './catalog.store';
import {
  changedFields,
  gatewayFields,
  gatewayFromRow,
  modelFields,
  modelFromRow,
  providerFields,
  providerFromRow,
} from './catalog-rows';

/** What to do with a stored key: keep it, replace it (`string`), or drop it (`null`). */
export type SecretUpdate = { keep: true } | { set: string | null };
export const KEEP_SECRET: SecretUpdate = { keep: true };

/** The catalog as an admin change sees it inside its transaction; secrets decrypted (never leave the process). */
export interface CatalogState {
  catalog: Catalog;
  providerSources: ReadonlyMap<string, ProviderSource>;
  gatewaySources: ReadonlyMap<string, ProviderSource>;
}

/** One admin transaction over the catalog: reads the current state, writes whole records, audits. */
export class CatalogTx {
  constructor(
    private readonly m: EntityManager,
    private readonly box: SecretBox,
  ) {}

  async state(): Promise<CatalogState> {
    // One after another: a transaction is one connection, which runs one query at a time.
    const gatewayRows = await this.m.find(GatewayEntity, { order: { id: 'ASC' } });
    const providerRows = await this.m.find(ProviderEntity, { order: { id: 'ASC' } });
    const modelRows = await this.m.find(ModelEntity, { order: { providerId: 'ASC', name: 'ASC' } });
    const modelsOf = new Map<string, ModelSpec[]>();
    for (const row of modelRows) {
      modelsOf.set(row.providerId, [...(modelsOf.get(row.providerId) ?? []), modelFromRow(row)]);
    }
    return {
      catalog: {
        gateways: gatewayRows.map((row) => gatewayFromRow(row, this.open(row.encryptedSecret))),
        providers: providerRows.map((row) =>
          providerFromRow(row, this.open(row.encryptedSecret), modelsOf.get(row.id) ?? []),
        ),
      },
      providerSources: new Map(providerRows.map((r) => [r.id, r.source])),
      gatewaySources: new Map(gatewayRows.map((r) => [r.id, r.source])),
    };
  }

  /**
   * Writes a provider and exactly its models (models the spec no longer lists are deleted), marked `admin` so
   * the boot seed leaves it alone. `spec.apiKey` is ignored: `secret` says what happens to the stored key.
   */
  async putProvider(spec: ProviderSpec, secret: SecretUpdate): Promise<void> {
    const row = await this.m.findOne(ProviderEntity, { where: { id: spec.id } });
    const sealed = this.sealed(row?.encryptedSecret ?? null, secret);
    const next = providerFields(spec, sealed);
    if (row === null) {
      await this.m.insert(ProviderEntity, { id: spec.id, source: 'admin', ...next });
    } else if (changedFields(row, next).length > 0 || row.source !== 'admin') {
      await this.m.update(ProviderEntity, { id: spec.id }, { ...next, source: 'admin' });
    }
    const rows = await this.m.find(ModelEntity, { where: { providerId: spec.id } });
    const byName = new Map(rows.map((r) => [r.name, r]));
    for (const model of spec.models) {
      const current = byName.get(model.name);
      const fields = modelFields(model);
      if (current === undefined) {
        await this.m.insert(ModelEntity, { providerId: spec.id, name: model.name, ...fields });
      } else if (changedFields(current, fields).length > 0) {
        await this.m.update(ModelEntity, { id: current.id }, fields);
      }
    }
    const kept = new Set(spec.models.map((mo) => mo.name));
    const gone = rows.filter((r) => !kept.has(r.name)).map((r) => r.id);
    if (gone.length > 0) {
      await this.m.delete(ModelEntity, gone);
    }
  }

  /** Deletes a provider; its models and health history go with it (ON DELETE CASCADE). */
  async deleteProvider(id: string): Promise<void> {
    await this.m.delete(ProviderEntity, { id });
  }

  async putGateway(spec: GatewaySpec, secret: SecretUpdate): Promise<void> {
    const row = await this.m.findOne(GatewayEntity, { where: { id: spec.id } });
    const next = gatewayFields(spec, this.sealed(row?.encryptedSecret ?? null, secret));
    if (row === null) {
      await this.m.insert(GatewayEntity, { id: spec.id, source: 'admin', ...next });
    } else if (changedFields(row, next).length > 0 || row.source !== 'admin') {
      await this.m.update(GatewayEntity, { id: spec.id }, { ...next, source: 'admin' });
    }
  }

  /** Ids of the providers routed through gateway `id` (it cannot be deleted while any is). */
  async providersUsingGateway(id: string): Promise<string[]> {
    const rows = await this.m.find(ProviderEntity, { where: { gatewayId: id }, order: { id: 'ASC' } });
    return rows.map((r) => r.id);
  }

  async deleteGateway(id: string): Promise<void> {
    await this.m.delete(GatewayEntity, { id });
  }

  audit(entry: AuditEntry): Promise<void> {
    return AuditLogStore.write(this.m, entry);
  }

  private sealed(current: string | null, secret: SecretUpdate): string | null {
    if ('keep' in secret) {
      return current;
    }
    return secret.set === null ? null : resealSecret(this.box, current, secret.set);
  }

  private open(sealed: string | null): string | undefined {
    // A key sealed under another SECRETS_KEY reads as absent here; the admin change keeps it untouched.
    if (sealed === null) {
      return undefined;
    }
    try {
      return this.box.decrypt(sealed);
    } catch {
      return undefined;
    }
  }
}

/**
 * Admin changes to providers, models and gateways. Each runs in one transaction holding the same advisory lock
 * as the boot seed, so edits, imports and seeds from several replicas apply one after another.
 */
export class CatalogAdminStore {
  constructor(
    private readonly dataSource: DataSource,
    private readonly box: SecretBox,
  ) {}

  transaction<T>(work: (tx: CatalogTx) => Promise<T>): Promise<T> {
    const schema = checkSchemaName((this.dataSource.options as { schema?: string }).schema);
    return this.dataSource.transaction(async (m) => {
      await m.query('SELECT pg_advisory_xact_lock($1::bigint)', [advisoryLockKey('catalog-seed', schema)]);
      return work(new CatalogTx(m, this.box));
    });
  }
}
