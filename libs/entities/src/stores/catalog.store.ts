import type { Catalog, GatewaySpec, ModelSpec, ProviderHealthStatus, ProviderSpec, StoredBaseUrls } from '@aigw/core';
import type { DataSource, EntityManager } from 'typeorm';
import { AuditLogEntity } from '../entities/audit-log.entity';
import { GatewayEntity } from '../entities/gateway.entity';
import { ModelEntity } from '../entities/model.entity';
import { ProviderEntity } from '../entities/provider.entity';
import { advisoryLockKey, checkSchemaName } from '../schema-name';
import { SecretBoxError, type SecretBox } from '../secret-box';
import { currentHealth, unservedOf } from './provider-health.store';
import {
  changedFields,
  gatewayFields,
  gatewayFromRow,
  modelFields,
  modelFromRow,
  providerFields,
  providerFromRow,
  type GatewayFields,
  type ModelFields,
} from './catalog-rows';

export interface SeedChange {
  id: string;
  /** Names of the changed fields (never their values: one may be a secret). */
  fields: string[];
  /** In `providers.ignored`: the provider is disabled as stored (by an admin), so nothing is called with it now. */
  disabled?: true;
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
     * Those of `skipped` whose file entry differs from what is stored in fields the file itself changed since the row
     * last agreed with it (`seeded`), with the catalog file's names of those fields (`apiKey`, `baseUrl`, `models`,
     * ...): the operator changed them in the file or its variables (a rotated `${OPENAI_API_KEY}`) and must hear that
     * they are not applied. What differs only because the admin edited it (a provider disabled, a timeout raised) is
     * not listed: it is the stored setting on purpose, and would be said again at every boot.
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

/** A model as `seeded` records it: its name and its stored fields. */
type SeededModel = ModelFields & { name: string };

function seededModels(p: ProviderSpec): SeededModel[] {
  return p.models.map((model) => ({ name: model.name, ...modelFields(model) }));
}

/** Whether two recorded model lists are the same models with the same fields, whatever their order. */
function sameModels(a: SeededModel[], b: SeededModel[]): boolean {
  const byName = new Map(a.map((model) => [model.name, model]));
  return (
    a.length === b.length &&
    b.every((model) => {
      const other = byName.get(model.name);
      return other !== undefined && changedFields(withNulls(other, model), model).length === 0;
    })
  );
}

/** `recorded` with null for each field of `next` it lacks (JSON keeps no undefined; a later release adds fields). */
function withNulls<T extends object>(recorded: object, next: T): T {
  const r = recorded as Record<string, unknown>;
  return Object.fromEntries(Object.keys(next).map((k) => [k, r[k] ?? null])) as T;
}

/** JSON with sorted keys: `seeded` as written compared with `seeded` as jsonb gives it back (keys reordered). */
function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
      : v,
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
   * learns about failing providers at no extra cost), and when each deployment's row was created (epoch seconds, by
   * `provider/model`): the `created` of `GET /v1/models`, the same on every replica and across restarts (rows are
   * updated in place, so an edit keeps it; a deployment deleted and added again is a new one). `unserved`: per
   * provider, the routed models (by upstream name) its own model list lacked at the monitor's last probe
   * (`unservedOf`), from the same rows too; providers without any are absent.
   */
  async loadWithHealth(): Promise<{
    catalog: Catalog;
    health: Map<string, ProviderHealthStatus>;
    created: Map<string, number>;
    unserved: Map<string, string[]>;
  }> {
    const m = this.dataSource.manager;
    const [gatewayRows, providerRows, modelRows] = await Promise.all([
      m.find(GatewayEntity, { order: { id: 'ASC' } }),
      m.find(ProviderEntity, { order: { id: 'ASC' } }),
      m.find(ModelEntity, { order: { providerId: 'ASC', name: 'ASC' } }),
    ]);
    const modelsOf = new Map<string, ModelSpec[]>();
    const created = new Map<string, number>();
    for (const row of modelRows) {
      created.set(`${row.providerId}/${row.name}`, Math.floor(row.createdAt.getTime() / 1000));
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
      created,
      unserved: new Map(
        providerRows.map((row) => [row.id, unservedOf(row, now)] as const).filter(([, models]) => models.length > 0),
      ),
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
        const { fields, seeded } = this.unapplied(row, next, g.apiKey);
        if (fields.length > 0) {
          summary.gateways.ignored.push({ id: g.id, fields: fileFieldNames(fields) });
        }
        await this.record(m, GatewayEntity, row, seeded);
        continue;
      }
      if (!row) {
        await m.insert(GatewayEntity, { id: g.id, source: 'file', ...next, seeded: { ...next } });
        summary.gateways.created.push(g.id);
        continue;
      }
      const fields = changedFields(row, next);
      if (fields.length === 0) {
        summary.gateways.unchanged++;
        await this.record(m, GatewayEntity, row, { ...next });
      } else {
        await m.update(GatewayEntity, { id: g.id }, { ...next, seeded: { ...next } });
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
      const models = seededModels(p);
      if (row?.source === 'admin') {
        summary.providers.skipped.push(p.id);
        const { fields, seeded } = this.unapplied(row, next, p.apiKey);
        const recorded = (row.seeded as { models?: SeededModel[] } | null)?.models;
        if (!modelsDiffer(p, modelsOf(p.id))) {
          seeded.models = models;
        } else if (recorded === undefined || !sameModels(recorded, models)) {
          // The file's models changed since the stored ones last were the file's (or that was never recorded).
          fields.push('models');
          seeded.models = recorded ?? models;
        }
        if (fields.length > 0) {
          summary.providers.ignored.push({
            id: p.id,
            fields: fileFieldNames(fields),
            ...(row.enabled ? {} : { disabled: true as const }),
          });
        }
        await this.record(m, ProviderEntity, row, seeded);
        continue;
      }
      if (!row) {
        await m.insert(ProviderEntity, { id: p.id, source: 'file', ...next, seeded: { ...next, models } });
        summary.providers.created.push(p.id);
      } else {
        const fields = changedFields(row, next);
        if (fields.length === 0) {
          summary.providers.unchanged++;
          await this.record(m, ProviderEntity, row, { ...next, models });
        } else {
          await m.update(ProviderEntity, { id: p.id }, { ...next, seeded: { ...next, models } });
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

  /**
   * For a row an admin edited (`source: admin`, which the seed does not change): the fields where the file (`next`,
   * `apiKey` its key in plaintext) says otherwise than the row AND that the file changed since the row last agreed with
   * it (`row.seeded`), and the `seeded` to record. A field the row agrees with is recorded as the file says it now, so
   * a later admin edit of it is not taken for a file change. With nothing recorded yet (an admin row from before
   * `seeded`, or one the admin created that the file now lists), every difference is reported, once: the file's
   * entry is recorded whole.
   */
  private unapplied<T extends GatewayFields>(
    row: T & { seeded: object | null },
    next: T,
    apiKey: string | undefined,
  ): { fields: string[]; seeded: Record<string, unknown> } {
    const differs = changedFields(row as T, next);
    const recorded = row.seeded as Record<string, unknown> | null;
    if (recorded === null) {
      return { fields: differs, seeded: { ...next } };
    }
    const changedInFile = new Set(
      changedFields(withNulls(recorded, next), next).filter((f) => f !== 'encryptedSecret'),
    );
    const key = this.recordedKey(recorded.encryptedSecret, apiKey);
    if (key !== 'same') {
      changedInFile.add('encryptedSecret');
    }
    const seeded: Record<string, unknown> = { ...recorded };
    for (const [k, v] of Object.entries(next)) {
      // Where the row agrees (the key: the row's own envelope, resealSecret keeps it), or nothing readable was
      // recorded for the field (one a later release added, a key sealed under a retired SECRETS_KEY): reported above
      // if it differs, once, then recorded as the file says it now.
      if (!differs.includes(k) || !(k in recorded) || (k === 'encryptedSecret' && key === 'unreadable')) {
        seeded[k] = v;
      }
    }
    return { fields: differs.filter((f) => changedInFile.has(f)), seeded };
  }

  /**
   * Whether the recorded envelope holds `apiKey` (both absent count as the same). `secrets rotate` re-seals the
   * recorded keys with the stored ones (and removes one it cannot open), but one recorded under a SECRETS_KEY retired
   * without it (a release whose rotate left the records alone) cannot say (`unreadable`).
   */
  private recordedKey(sealed: unknown, apiKey: string | undefined): 'same' | 'changed' | 'unreadable' {
    if (sealed === null || sealed === undefined) {
      return apiKey === undefined ? 'same' : 'changed';
    }
    try {
      return typeof sealed === 'string' && this.box.decrypt(sealed) === apiKey ? 'same' : 'changed';
    } catch {
      return 'unreadable';
    }
  }

  /**
   * Writes `seeded` when it is not what the row holds, and only it: `updated_at` stays, which dates changes of the
   * settings, and a boot that found the file as recorded writes nothing.
   */
  private async record(
    m: EntityManager,
    entity: typeof ProviderEntity | typeof GatewayEntity,
    row: { id: string; seeded: object | null },
    seeded: object,
  ): Promise<void> {
    if (row.seeded !== null && stableJson(row.seeded) === stableJson(seeded)) {
      return;
    }
    await m.update(entity, { id: row.id }, { seeded, updatedAt: () => '"updated_at"' });
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
