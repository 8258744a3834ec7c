import type { Catalog, GatewaySpec, ModelSpec, ProviderHealthStatus, ProviderSpec, StoredBaseUrls } from '@aigw/core';
import type { DataSource, EntityManager } from 'typeorm';
import { AuditLogEntity } from '../entities/audit-log.entity';
import { GatewayEntity } from '../entities/gateway.entity';
import { ModelEntity } from '../entities/model.entity';
import { ProviderEntity } from '../entities/provider.entity';
import { advisoryLockKey, checkSchemaName } from '../schema-name';
import { SecretBoxError, type SecretBox } from '../secret-box';
import { currentHealth } from './provider-health.store';
import {
  changedFields,
  gatewayFields,
  gatewayFromRow,
  modelFields,
  modelFromRow,
  providerFields,
  providerFromRow,
  type GatewayFields,
} from './catalog-rows';

export interface SeedChange {
  id: string;
  /** Names of the changed fields (never their values: one may be a secret). */
  fields: string[];
}

/** What a seed did; also the `detail` of its audit_log row. */
export interface SeedSummary {
  gateways: {
    created: string[];
    updated: SeedChange[];
    unchanged: number;
    /** Edited through the admin API, and the file says otherwise: what it would change, not applied (see below). */
    ignored: SeedChange[];
  };
  providers: {
    created: string[];
    updated: SeedChange[];
    unchanged: number;
    /** Left the file: disabled with their models. */
    disabled: string[];
    /** Edited through the admin API (`source = 'admin'`): the file no longer overrides them. */
    skipped: string[];
    /**
     * Those of `skipped` whose file entry differs from what is stored, with the catalog file's names of the fields it
     * would change (`apiKey`, `baseUrl`, `models`, ...): the operator changed them in the file or its variables (a
     * rotated `${OPENAI_API_KEY}`) and must hear that they are not applied.
     */
    ignored: SeedChange[];
  };
  models: { created: number; updated: number; unchanged: number; disabled: number };
}

function emptySummary(): SeedSummary {
  return {
    gateways: { created: [], updated: [], unchanged: 0, ignored: [] },
    providers: { created: [], updated: [], unchanged: 0, disabled: [], skipped: [], ignored: [] },
    models: { created: 0, updated: 0, unchanged: 0, disabled: 0 },
  };
}

/**
 * The SecretBox envelope for `plaintext` (null: none). Keeps the stored envelope when it already holds this secret:
 * a fresh IV would be a spurious change.
 */
export function resealSecret(box: SecretBox, current: string | null, plaintext: string | undefined): string | null {
  if (plaintext === undefined) {
    return null;
  }
  if (current !== null) {
    try {
      if (box.decrypt(current) === plaintext) {
        return current;
      }
    } catch {
      // Sealed under another SECRETS_KEY: the new value is the source of truth, so re-seal below.
    }
  }
  return box.encrypt(plaintext);
}

/** The catalog file's name of a stored field, where they differ (the API key is sealed, or named by its variable). */
const FILE_FIELD_NAMES: Readonly<Record<string, string>> = {
  encryptedSecret: 'apiKey',
  apiKeyRef: 'apiKey',
  gatewayId: 'gateway',
  pluginModule: 'plugin',
  probeMode: 'probe',
};

function fileFieldNames(fields: string[]): string[] {
  return [...new Set(fields.map((f) => FILE_FIELD_NAMES[f] ?? f))];
}

/** Whether the file's models of a provider differ from the stored ones (one added, removed or changed). */
function modelsDiffer(p: ProviderSpec, rows: ModelEntity[]): boolean {
  const byName = new Map(rows.map((r) => [r.name, r]));
  const inFile = new Set(p.models.map((model) => model.name));
  return (
    rows.some((r) => r.enabled && !inFile.has(r.name)) ||
    p.models.some((model) => {
      const row = byName.get(model.name);
      return row === undefined || changedFields(row, modelFields(model)).length > 0;
    })
  );
}

function changedAnything(s: SeedSummary): boolean {
  return (
    s.gateways.created.length + s.gateways.updated.length > 0 ||
    s.providers.created.length + s.providers.updated.length + s.providers.disabled.length > 0 ||
    s.models.created + s.models.updated + s.models.disabled > 0
  );
}

/** The provider catalog in PostgreSQL: seeded from the catalog file, read back by every process. */
export class CatalogStore {
  constructor(
    private readonly dataSource: DataSource,
    private readonly box: SecretBox,
  ) {}

  /**
   * Upserts gateways, providers and models from the file in one transaction. Idempotent: rows
   * (and their `updated_at`) only change when a value changed, and only a seed that changed one is audited. Seeds from several replicas
   * queue on an advisory lock instead of racing on inserts.
   */
  async seed(catalog: Catalog, actor = 'catalog-file'): Promise<SeedSummary> {
    const schema = checkSchemaName((this.dataSource.options as { schema?: string }).schema);
    return this.dataSource.transaction(async (m) => {
      await m.query('SELECT pg_advisory_xact_lock($1::bigint)', [advisoryLockKey('catalog-seed', schema)]);
      const summary = emptySummary();
      await this.seedGateways(m, catalog.gateways, summary);
      await this.seedProviders(m, catalog.providers, summary);
      if (changedAnything(summary)) {
        // Every process seeds at boot: a seed that found the file as stored (most boots, every autoscaled worker)
        // leaves no row, or the audit log fills with no-ops.
        await m.insert(AuditLogEntity, { actor, action: 'catalog.seed', target: 'catalog', detail: { ...summary } });
      }
      return summary;
    });
  }

  /**
   * Each stored gateway's and provider's id and `baseUrl`, no secret opened: what a seed's file is checked against (a
   * link-local URL already stored does not stop a start, CatalogReadOptions.stored).
   */
  async baseUrls(): Promise<StoredBaseUrls> {
    const m = this.dataSource.manager;
    const [gateways, providers] = await Promise.all([
      m.find(GatewayEntity, { select: { id: true, baseUrl: true } }),
      m.find(ProviderEntity, { select: { id: true, baseUrl: true } }),
    ]);
    const urlOf = (row: { id: string; baseUrl: string }) => ({ id: row.id, baseUrl: row.baseUrl });
    return { gateways: gateways.map(urlOf), providers: providers.map(urlOf) };
  }

  /** Every gateway, provider and model, enabled or not, with secrets decrypted; sorted by id and name. */
  async load(): Promise<Catalog> {
    return (await this.loadWithHealth()).catalog;
  }

  /**
   * The catalog, and each provider's health status as the monitor last recorded it (from the same rows: routing
   * learns about failing providers at no extra cost).
   */
  async loadWithHealth(): Promise<{ catalog: Catalog; health: Map<string, ProviderHealthStatus> }> {
    const m = this.dataSource.manager;
    const [gatewayRows, providerRows, modelRows] = await Promise.all([
      m.find(GatewayEntity, { order: { id: 'ASC' } }),
      m.find(ProviderEntity, { order: { id: 'ASC' } }),
      m.find(ModelEntity, { order: { providerId: 'ASC', name: 'ASC' } }),
    ]);
    const modelsOf = new Map<string, ModelSpec[]>();
    for (const row of modelRows) {
      const list = modelsOf.get(row.providerId) ?? [];
      list.push(modelFromRow(row));
      modelsOf.set(row.providerId, list);
    }
    const catalog: Catalog = {
      providers: providerRows.map((row) =>
        providerFromRow(row, this.open(row.encryptedSecret, `provider '${row.id}'`), modelsOf.get(row.id) ?? []),
      ),
      gateways: gatewayRows.map((row) => gatewayFromRow(row, this.open(row.encryptedSecret, `gateway '${row.id}'`))),
    };
    const now = Date.now();
    return {
      catalog,
      health: new Map(providerRows.map((row) => [row.id, currentHealth(row.healthStatus, row.healthValidUntil, now)])),
    };
  }

  private open(sealed: string | null, owner: string): string | undefined {
    if (sealed === null) {
      return undefined;
    }
    try {
      return this.box.decrypt(sealed);
    } catch (err) {
      throw new SecretBoxError(`cannot read the API key of ${owner}`, { cause: err });
    }
  }

  private seal(current: string | null, plaintext: string | undefined): string | null {
    return resealSecret(this.box, current, plaintext);
  }

  private async seedGateways(m: EntityManager, gateways: GatewaySpec[], summary: SeedSummary): Promise<void> {
    const rows = new Map((await m.find(GatewayEntity)).map((r) => [r.id, r]));
    for (const g of gateways) {
      const row = rows.get(g.id);
      const next: GatewayFields = gatewayFields(g, this.seal(row?.encryptedSecret ?? null, g.apiKey));
      if (row?.source === 'admin') {
        const fields = fileFieldNames(changedFields(row, next));
        if (fields.length > 0) {
          summary.gateways.ignored.push({ id: g.id, fields });
        }
        continue;
      }
      if (!row) {
        await m.insert(GatewayEntity, { id: g.id, source: 'file', ...next });
        summary.gateways.created.push(g.id);
        continue;
      }
      const fields = changedFields(row, next);
      if (fields.length === 0) {
        summary.gateways.unchanged++;
      } else {
        await m.update(GatewayEntity, { id: g.id }, next);
        summary.gateways.updated.push({ id: g.id, fields });
      }
    }
  }

  private async seedProviders(m: EntityManager, providers: ProviderSpec[], summary: SeedSummary): Promise<void> {
    const rows = new Map((await m.find(ProviderEntity)).map((r) => [r.id, r]));
    const modelRows = await m.find(ModelEntity);
    const modelsOf = (providerId: string) => modelRows.filter((r) => r.providerId === providerId);
    for (const p of providers) {
      const row = rows.get(p.id);
      const next = providerFields(p, this.seal(row?.encryptedSecret ?? null, p.apiKey));
      if (row?.source === 'admin') {
        summary.providers.skipped.push(p.id);
        const fields = fileFieldNames(changedFields(row, next));
        if (modelsDiffer(p, modelsOf(p.id))) {
          fields.push('models');
        }
        if (fields.length > 0) {
          summary.providers.ignored.push({ id: p.id, fields });
        }
        continue;
      }
      if (!row) {
        await m.insert(ProviderEntity, { id: p.id, source: 'file', ...next });
        summary.providers.created.push(p.id);
      } else {
        const fields = changedFields(row, next);
        if (fields.length === 0) {
          summary.providers.unchanged++;
        } else {
          await m.update(ProviderEntity, { id: p.id }, next);
          summary.providers.updated.push({ id: p.id, fields });
        }
      }
      await this.seedModels(m, p, modelsOf(p.id), summary);
    }
    const inFile = new Set(providers.map((p) => p.id));
    for (const row of rows.values()) {
      if (row.source !== 'file' || inFile.has(row.id)) {
        continue;
      }
      // Kept, not deleted: usage history and health checks still refer to it.
      if (row.enabled) {
        await m.update(ProviderEntity, { id: row.id }, { enabled: false });
        summary.providers.disabled.push(row.id);
      }
      await this.disableModels(m, modelsOf(row.id), summary);
    }
  }

  private async seedModels(m: EntityManager, p: ProviderSpec, rows: ModelEntity[], summary: SeedSummary) {
    const byName = new Map(rows.map((r) => [r.name, r]));
    for (const model of p.models) {
      const row = byName.get(model.name);
      const next = modelFields(model);
      if (!row) {
        await m.insert(ModelEntity, { providerId: p.id, name: model.name, ...next });
        summary.models.created++;
      } else if (changedFields(row, next).length === 0) {
        summary.models.unchanged++;
      } else {
        await m.update(ModelEntity, { id: row.id }, next);
        summary.models.updated++;
      }
    }
    const inFile = new Set(p.models.map((x) => x.name));
    await this.disableModels(
      m,
      rows.filter((r) => !inFile.has(r.name)),
      summary,
    );
  }

  private async disableModels(m: EntityManager, rows: ModelEntity[], summary: SeedSummary): Promise<void> {
    for (const row of rows.filter((r) => r.enabled)) {
      await m.update(ModelEntity, { id: row.id }, { enabled: false });
      summary.models.disabled++;
    }
  }
}
