import { Inject, Injectable } from '@nestjs/common';
import {
  CatalogFileError,
  catalogDocument,
  catalogToJson,
  catalogToYaml,
  ErrorCode,
  GatewayError,
  parseCatalog,
  readCatalogDocument,
  type Catalog,
  type CatalogReadOptions,
  type GatewaySpec,
  type ProviderSpec,
} from '@aigw/core';
import type { CatalogTx, SecretUpdate } from '@aigw/entities';
import { ENV } from '@aigw/platform';
import type { GatewayEnv } from '../config/gateway-env';
import type { AuthContext } from '../http/request-context';
import { actorOf } from './admin-views';
import { CatalogChanges } from './catalog-changes';
import { CircuitAdminService } from './circuit-admin.service';
import { adminDocument, problemOf, problemText, withLoadablePlugins, type Doc } from './catalog-docs';
import { PluginAllowance, type PluginAllowed } from './plugin-check';
import { CONNECTION_FIELDS } from './provider-commands.service';

export type ExportFormat = 'yaml' | 'json';

export interface FieldChange {
  from: unknown;
  to: unknown;
}

export interface EntityChanges {
  added: string[];
  changed: { id: string; fields: Record<string, FieldChange> }[];
  removed: string[];
}

export interface ImportResult {
  dryRun: boolean;
  applied: boolean;
  changes: { gateways: EntityChanges; providers: EntityChanges; models: EntityChanges };
}

type Keyed = { id: string; apiKey?: string; apiKeyRef?: string };

/**
 * The whole configuration as one file (the catalog file's format, so an export is a valid PROVIDERS_FILE) and
 * back. An import replaces the configuration: what the file lacks is removed, in one transaction; a key the file
 * leaves out is kept (exports never carry literal keys, only `${VAR}` references).
 */
@Injectable()
export class ConfigTransferService {
  constructor(
    private readonly changes: CatalogChanges,
    private readonly plugins: PluginAllowance,
    private readonly circuits: CircuitAdminService,
    @Inject(ENV) private readonly env: GatewayEnv,
  ) {}

  async export(format: ExportFormat): Promise<string> {
    const { catalog } = await this.changes.read((tx) => tx.state());
    return format === 'json' ? catalogToJson(catalog) : catalogToYaml(catalog);
  }

  async import(body: unknown, dryRun: boolean, auth: AuthContext): Promise<ImportResult> {
    let reconnected: string[] = [];
    const plan = async (tx: CatalogTx): Promise<ImportResult> => {
      const { catalog } = await tx.state();
      // A baseUrl is checked only when new or changed (adminDocument): an entry stored at a link-local address
      // (before the check, or while PROVIDER_ALLOW_LINK_LOCAL was set) does not refuse an unchanged export.
      const incoming = parseImport(body, this.plugins.allows, adminDocument(this.env, catalog));
      const changes = diffCatalogs(catalog, incoming);
      if (!dryRun) {
        reconnected = reconnectedProviders(incoming, changes);
        await applyImport(tx, catalog, incoming, changes);
        await tx.audit({
          actor: actorOf(auth),
          action: 'config.import',
          target: 'catalog',
          before: null,
          after: changes,
        });
      }
      return { dryRun, applied: !dryRun, changes };
    };
    if (dryRun) {
      return this.changes.read(plan);
    }
    const result = await this.changes.apply(null, plan);
    await this.forgetRemoved(result.changes);
    // As a PATCH of the same settings does (ProviderCommandsService.update, GatewaysAdminService.update): an import is
    // how a URL or key is often mended in bulk, and what the circuits learnt of the old settings no longer holds.
    for (const id of reconnected) {
      await this.circuits.forgetAfterChange(id, 'config.import', auth);
    }
    return result;
  }

  /** What the workers learnt of removed providers and models goes with them (CircuitAdminService.forgetDeleted). */
  private async forgetRemoved(changes: ImportResult['changes']): Promise<void> {
    const gone = new Set(changes.providers.removed);
    const byProvider = new Map<string, string[]>([...gone].map((id) => [id, []]));
    for (const deploymentId of changes.models.removed) {
      // A provider id holds no '/' (the catalog's rule), so a deployment id's first one ends it.
      const providerId = deploymentId.slice(0, deploymentId.indexOf('/'));
      const ids = byProvider.get(providerId);
      if (ids === undefined) {
        byProvider.set(providerId, [deploymentId]);
      } else {
        ids.push(deploymentId);
      }
    }
    await Promise.all(
      [...byProvider].map(([providerId, deploymentIds]) =>
        this.circuits.forgetDeleted({ providerId, deploymentIds, wholeProvider: gone.has(providerId) }),
      ),
    );
  }
}

function parseImport(body: unknown, pluginAllowed: PluginAllowed, options: CatalogReadOptions): Catalog {
  try {
    if (typeof body === 'string') {
      return withLoadablePlugins(parseCatalog(body, process.env, 'configuration', options), pluginAllowed);
    }
    if (typeof body === 'object' && body !== null && !Array.isArray(body)) {
      return withLoadablePlugins(readCatalogDocument(body, process.env, 'configuration', options), pluginAllowed);
    }
  } catch (err) {
    if (err instanceof CatalogFileError) {
      const problems = err.problems.map((p) => problemOf(p, /^$/));
      throw new GatewayError(
        ErrorCode.InvalidRequest,
        `Invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}): ` +
          problems.map(problemText).join('; '),
        { param: problems[0]?.path ?? null, cause: err },
      );
    }
    throw err;
  }
  throw new GatewayError(
    ErrorCode.InvalidRequest,
    'The body must be the configuration as JSON (application/json) or YAML (application/yaml).',
  );
}

/** Whether the file says anything about the key: a literal, or a reference (even one that resolved to nothing). */
function mentionsKey(x: Keyed): boolean {
  return x.apiKey !== undefined || x.apiKeyRef !== undefined;
}

function keyChange(before: Keyed | undefined, after: Keyed): FieldChange | null {
  if (!mentionsKey(after)) {
    return null;
  }
  if (before !== undefined && before.apiKey === after.apiKey && before.apiKeyRef === after.apiKeyRef) {
    return null;
  }
  // Never a value: a reference is shown, a literal key only as "(secret)".
  const shown = (x: Keyed | undefined): unknown =>
    x === undefined || !mentionsKey(x) ? null : (x.apiKeyRef ?? '(secret)');
  return { from: shown(before), to: shown(after) };
}

function fieldChanges(before: Doc, after: Doc, skip: string[]): Record<string, FieldChange> {
  const out: Record<string, FieldChange> = {};
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((k) => !skip.includes(k));
  for (const key of keys) {
    if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) {
      out[key] = { from: before[key] ?? null, to: after[key] ?? null };
    }
  }
  return out;
}

function docsById(docs: object[]): Map<string, Doc> {
  return new Map(docs.map((d) => [String((d as Doc).id), d as Doc]));
}

function diffEntities<T extends Keyed>(
  current: T[],
  incoming: T[],
  currentDocs: object[],
  incomingDocs: object[],
  skip: string[],
): EntityChanges {
  const before = docsById(currentDocs);
  const after = docsById(incomingDocs);
  const out: EntityChanges = { added: [], changed: [], removed: [] };
  for (const spec of incoming) {
    const was = current.find((c) => c.id === spec.id);
    if (was === undefined) {
      out.added.push(spec.id);
      continue;
    }
    const fields = fieldChanges(before.get(spec.id) ?? {}, after.get(spec.id) ?? {}, [...skip, 'apiKey']);
    const key = keyChange(was, spec);
    if (key !== null) {
      fields.apiKey = key;
    }
    if (Object.keys(fields).length > 0) {
      out.changed.push({ id: spec.id, fields });
    }
  }
  out.removed = current.filter((c) => !incoming.some((i) => i.id === c.id)).map((c) => c.id);
  return out;
}

function modelDocs(doc: { providers: object[] }): Map<string, Doc> {
  const out = new Map<string, Doc>();
  for (const p of doc.providers as Doc[]) {
    for (const m of p.models as Doc[]) {
      out.set(`${String(p.id)}/${String(m.name)}`, m);
    }
  }
  return out;
}

/** Added, changed (field by field) and removed gateways, providers and models; keys never shown. */
export function diffCatalogs(current: Catalog, incoming: Catalog): ImportResult['changes'] {
  const a = catalogDocument(current);
  const b = catalogDocument(incoming);
  const gateways = diffEntities(current.gateways, incoming.gateways, a.gateways, b.gateways, []);
  const providers = diffEntities(current.providers, incoming.providers, a.providers, b.providers, ['models']);
  const before = modelDocs(a);
  const after = modelDocs(b);
  const models: EntityChanges = { added: [], changed: [], removed: [] };
  for (const [id, doc] of after) {
    const was = before.get(id);
    if (was === undefined) {
      models.added.push(id);
    } else {
      const fields = fieldChanges(was, doc, []);
      if (Object.keys(fields).length > 0) {
        models.changed.push({ id, fields });
      }
    }
  }
  models.removed = [...before.keys()].filter((id) => !after.has(id));
  return { gateways, providers, models };
}

/** A gateway change that changes how the providers routed through it are called (GatewaysAdminService.update). */
const GATEWAY_CONNECTION_FIELDS = ['baseUrl', 'apiKey', 'timeoutMs'];

/**
 * The providers the import keeps whose calls change: a connection field or the key of their own, or of the gateway
 * they are routed through.
 */
function reconnectedProviders(incoming: Catalog, changes: ImportResult['changes']): string[] {
  const touches = (fields: Record<string, FieldChange>, names: readonly string[]): boolean =>
    names.some((name) => name in fields);
  const gateways = new Set(
    changes.gateways.changed.filter((c) => touches(c.fields, GATEWAY_CONNECTION_FIELDS)).map((c) => c.id),
  );
  const own = new Set(
    changes.providers.changed.filter((c) => touches(c.fields, [...CONNECTION_FIELDS, 'apiKey'])).map((c) => c.id),
  );
  return incoming.providers
    .filter((p) => own.has(p.id) || (p.gateway !== undefined && gateways.has(p.gateway)))
    .map((p) => p.id);
}

function secretOf<T extends Keyed>(spec: T, current: T | undefined): { spec: T; secret: SecretUpdate } {
  if (mentionsKey(spec)) {
    return { spec, secret: { set: spec.apiKey ?? null } };
  }
  const { apiKey: _a, apiKeyRef: _r, ...rest } = spec;
  const kept = {
    ...rest,
    ...(current?.apiKey === undefined ? {} : { apiKey: current.apiKey }),
    ...(current?.apiKeyRef === undefined ? {} : { apiKeyRef: current.apiKeyRef }),
  } as T;
  return { spec: kept, secret: { keep: true } };
}

async function applyImport(tx: CatalogTx, current: Catalog, incoming: Catalog, changes: ImportResult['changes']) {
  const touched = (c: EntityChanges, id: string): boolean => c.added.includes(id) || c.changed.some((x) => x.id === id);
  const modelTouched = (providerId: string): boolean =>
    [...changes.models.added, ...changes.models.removed, ...changes.models.changed.map((x) => x.id)].some((id) =>
      id.startsWith(`${providerId}/`),
    );
  for (const g of incoming.gateways) {
    if (touched(changes.gateways, g.id)) {
      const { spec, secret } = secretOf<GatewaySpec>(
        g,
        current.gateways.find((c) => c.id === g.id),
      );
      await tx.putGateway(spec, secret);
    }
  }
  for (const p of incoming.providers) {
    if (touched(changes.providers, p.id) || modelTouched(p.id)) {
      const { spec, secret } = secretOf<ProviderSpec>(
        p,
        current.providers.find((c) => c.id === p.id),
      );
      await tx.putProvider(spec, secret);
    }
  }
  for (const id of changes.providers.removed) {
    await tx.deleteProvider(id);
  }
  for (const id of changes.gateways.removed) {
    await tx.deleteGateway(id);
  }
}
