import { Inject, Injectable } from '@nestjs/common';
import {
  ErrorCode,
  GatewayError,
  PROVIDER_KINDS,
  type ModelSpec,
  type ProviderKind,
  type ProviderSpec,
} from '@aigw/core';
import { ENV } from '@aigw/platform';
import { KEEP_SECRET, type CatalogState, type CatalogTx, type SecretUpdate } from '@aigw/entities';
import type { GatewayEnv } from '../config/gateway-env';
import type { AuthContext } from '../http/request-context';
import { actionFields } from './action-body';
import { actorOf } from './admin-views';
import { CircuitAdminService } from './circuit-admin.service';
import { CatalogChanges, Unchanged } from './catalog-changes';
import { PluginAllowance } from './plugin-check';
import {
  adminDocument,
  fieldsOf,
  gatewayDocs,
  modelDoc,
  notFound,
  providerDoc,
  providerView,
  sameSettings,
  validateDocs,
  type Doc,
  type ModelView,
  type ProviderView,
} from './catalog-docs';
import { PROVIDER_TEMPLATES, templateNamed, type ProviderTemplate } from './provider-templates';

const PROVIDER_PREFIX = /^providers\[0\]\.?/;

/**
 * How a provider is called: a change to one of these (or a new key) makes what its circuits learnt stale, so an
 * update closes them (a wrong key or URL fixed is served at once, not after CB_OPEN_MS).
 */
export const CONNECTION_FIELDS = ['kind', 'baseUrl', 'routing', 'gateway', 'plugin', 'timeoutMs'] as const;

export interface ProviderStarts {
  data: ProviderTemplate[];
  kinds: ProviderKind[];
}

/**
 * Create, change, toggle and delete providers and their models. Every change is one transaction with its audit
 * row, validated as the catalog file is, and live on every process within a second (CatalogChanges).
 */
@Injectable()
export class ProviderCommandsService {
  constructor(
    private readonly changes: CatalogChanges,
    private readonly circuits: CircuitAdminService,
    private readonly plugins: PluginAllowance,
    @Inject(ENV) private readonly env: GatewayEnv,
  ) {}

  /** The two ways to start a provider: a template, or a `kind` (the catalog's list, so a form offers no other). */
  templates(): ProviderStarts {
    return { data: [...PROVIDER_TEMPLATES], kinds: [...PROVIDER_KINDS] };
  }

  async create(body: unknown, auth: AuthContext): Promise<ProviderView> {
    const fields = fieldsOf(body);
    const doc = fromTemplate(fields);
    const id = typeof doc.id === 'string' ? doc.id : null;
    return this.changes.apply(id, async (tx) => {
      const state = await tx.state();
      if (doc.routing !== undefined && doc.routing !== 'direct' && doc.gateway === undefined) {
        // A template routed through a gateway takes the only one there is.
        if (state.catalog.gateways.length === 1) {
          doc.gateway = state.catalog.gateways[0].id;
        }
      }
      const next = this.validate(doc, state);
      if (state.catalog.providers.some((p) => p.id === next.id)) {
        throw new GatewayError(ErrorCode.Conflict, `A provider '${next.id}' already exists.`, { param: 'id' });
      }
      await tx.putProvider(next, { set: next.apiKey ?? null });
      const after = providerView(next, 'admin');
      await tx.audit({ actor: actorOf(auth), action: 'provider.create', target: next.id, before: null, after });
      return after;
    });
  }

  async update(id: string, body: unknown, auth: AuthContext, action = 'provider.update'): Promise<ProviderView> {
    const fields = fieldsOf(body);
    for (const fixed of ['id', 'models']) {
      if (fixed in fields) {
        const why = fixed === 'id' ? 'cannot change (create a new provider)' : 'change through the models endpoints';
        throw new GatewayError(ErrorCode.InvalidRequest, `'${fixed}': ${why}.`, { param: fixed });
      }
    }
    let reconnected = false;
    const view = await this.changes.apply(id, async (tx) => {
      const { state, current } = await this.current(tx, id);
      const doc = providerDoc(current);
      const secret = mergeFields(doc, fields);
      const next = this.validate(doc, state, current, secret);
      reconnected = current.apiKey !== next.apiKey || CONNECTION_FIELDS.some((f) => current[f] !== next[f]);
      return this.write(tx, auth, action, current, next, secret, state);
    });
    if (reconnected) {
      // Live on this replica already (CatalogChanges reloaded it), and on the workers within a second.
      await this.circuits.forgetAfterChange(id, action, auth);
    }
    return view;
  }

  /** Flips `enabled`, or sets it to `enabled` when given. */
  async toggle(id: string, body: unknown, auth: AuthContext): Promise<ProviderView> {
    const fields = actionFields(body, ['enabled']);
    if (fields.enabled !== undefined && typeof fields.enabled !== 'boolean') {
      throw new GatewayError(ErrorCode.InvalidRequest, "'enabled' must be true or false.", { param: 'enabled' });
    }
    return this.changes.apply(id, async (tx) => {
      const { state, current } = await this.current(tx, id);
      const enabled = typeof fields.enabled === 'boolean' ? fields.enabled : !current.enabled;
      const next = { ...current, enabled };
      return this.write(tx, auth, 'provider.toggle', current, next, KEEP_SECRET, state);
    });
  }

  /**
   * Deletes a provider with its models and health history, and what the workers learnt of it in Redis (circuits,
   * latency, route, rate limits); usage records keep its id.
   */
  async remove(id: string, auth: AuthContext): Promise<ProviderView> {
    const before = await this.changes.apply(id, async (tx) => {
      const { state, current } = await this.current(tx, id);
      await tx.deleteProvider(id);
      const view = providerView(current, state.providerSources.get(id) ?? null);
      await tx.audit({ actor: actorOf(auth), action: 'provider.delete', target: id, before: view, after: null });
      return view;
    });
    await this.circuits.forgetDeleted({
      providerId: id,
      deploymentIds: before.models.map((m) => m.id),
      wholeProvider: true,
    });
    return before;
  }

  async createModel(id: string, body: unknown, auth: AuthContext): Promise<ModelView> {
    const fields = fieldsOf(body);
    return this.changes.apply(id, async (tx) => {
      const { state, current } = await this.current(tx, id);
      if (current.models.some((m) => m.name === fields.name)) {
        throw new GatewayError(ErrorCode.Conflict, `Provider '${id}' already has a model '${String(fields.name)}'.`, {
          param: 'name',
        });
      }
      return this.writeModel(tx, auth, 'model.create', state, current, [...current.models.map(modelDoc), fields]);
    });
  }

  async updateModel(id: string, model: string, body: unknown, auth: AuthContext): Promise<ModelView> {
    const fields = fieldsOf(body);
    if ('name' in fields && fields.name !== model) {
      throw new GatewayError(ErrorCode.InvalidRequest, "'name' cannot change (create a new model).", {
        param: 'name',
      });
    }
    return this.changes.apply(id, async (tx) => {
      const { state, current } = await this.current(tx, id);
      const index = this.modelIndex(current, model);
      const docs = current.models.map(modelDoc);
      mergeFields(docs[index], fields);
      return this.writeModel(tx, auth, 'model.update', state, current, docs, index);
    });
  }

  /** Deletes a model, and its deployment's circuit and latency averages in Redis (see `remove`). */
  async removeModel(id: string, model: string, auth: AuthContext): Promise<ModelView> {
    const before = await this.changes.apply(id, async (tx) => {
      const { current } = await this.current(tx, id);
      const index = this.modelIndex(current, model);
      const next = { ...current, models: current.models.filter((_, i) => i !== index) };
      await tx.putProvider(next, KEEP_SECRET);
      const before = modelView(current, current.models[index]);
      await tx.audit({ actor: actorOf(auth), action: 'model.delete', target: before.id, before, after: null });
      return before;
    });
    await this.circuits.forgetDeleted({ providerId: id, deploymentIds: [before.id], wholeProvider: false });
    return before;
  }

  private async current(tx: CatalogTx, id: string): Promise<{ state: CatalogState; current: ProviderSpec }> {
    const state = await tx.state();
    const current = state.catalog.providers.find((p) => p.id === id);
    if (current === undefined) {
      throw notFound(`provider '${id}'`, 'providerId');
    }
    return { state, current };
  }

  private modelIndex(provider: ProviderSpec, model: string): number {
    const index = provider.models.findIndex((m) => m.name === model);
    if (index === -1) {
      throw new GatewayError(ErrorCode.NotFound, `Provider '${provider.id}' has no model '${model}'.`, {
        param: 'model',
      });
    }
    return index;
  }

  /**
   * The document validated against the stored gateways. Without a new key the stored one and its reference stay
   * (`current`), so a PATCH never needs the key's variable in this process's environment. A change of `current` checks
   * its `baseUrl` only when it changes (adminDocument): one stored at a link-local address (before the
   * check, or while PROVIDER_ALLOW_LINK_LOCAL was set) does not refuse a change of its timeout or its models.
   */
  private validate(
    doc: Doc,
    state: CatalogState,
    current?: ProviderSpec,
    secret: SecretUpdate = KEEP_SECRET,
    strip: RegExp = PROVIDER_PREFIX,
  ): ProviderSpec {
    const catalog = validateDocs(
      { gateways: gatewayDocs(state.catalog), providers: [doc] },
      process.env,
      strip,
      this.plugins.allows,
      // The stored gateways are read as saved, and so is this provider's own URL unless the document changes it.
      adminDocument(this.env, { providers: current === undefined ? [] : [current], gateways: state.catalog.gateways }),
    );
    const next = catalog.providers[0];
    if ('keep' in secret && current !== undefined) {
      const { apiKey: _new, apiKeyRef: _ref, ...rest } = next;
      return {
        ...rest,
        ...(current.apiKey === undefined ? {} : { apiKey: current.apiKey }),
        ...(current.apiKeyRef === undefined ? {} : { apiKeyRef: current.apiKeyRef }),
      };
    }
    return next;
  }

  private async write(
    tx: CatalogTx,
    auth: AuthContext,
    action: string,
    current: ProviderSpec,
    next: ProviderSpec,
    secret: SecretUpdate,
    state: CatalogState,
  ): Promise<ProviderView | Unchanged<ProviderView>> {
    const before = providerView(current, state.providerSources.get(current.id) ?? null);
    if (sameSettings(current, next, 'keep' in secret)) {
      return new Unchanged(before);
    }
    const stored: SecretUpdate = 'keep' in secret ? secret : { set: next.apiKey ?? null };
    await tx.putProvider(next, stored);
    const after = providerView(next, 'admin');
    await tx.audit({ actor: actorOf(auth), action, target: current.id, before, after });
    return after;
  }

  private async writeModel(
    tx: CatalogTx,
    auth: AuthContext,
    action: string,
    state: CatalogState,
    current: ProviderSpec,
    modelDocs: Doc[],
    index = modelDocs.length - 1,
  ): Promise<ModelView | Unchanged<ModelView>> {
    const doc = { ...providerDoc(current), models: modelDocs };
    const strip = new RegExp(`^providers\\[0\\]\\.(models\\[${index}\\]\\.?)?`);
    const next = this.validate(doc, state, current, KEEP_SECRET, strip);
    const name = String(modelDocs[index].name);
    const before = current.models.find((m) => m.name === name);
    const written = next.models.find((m) => m.name === name) as ModelSpec;
    const after = modelView(next, written);
    if (before !== undefined && sameSettings(current, next, true)) {
      return new Unchanged(after);
    }
    await tx.putProvider(next, KEEP_SECRET);
    await tx.audit({
      actor: actorOf(auth),
      action,
      target: after.id,
      before: before === undefined ? null : modelView(current, before),
      after,
    });
    return after;
  }
}

function modelView(p: ProviderSpec, m: ModelSpec): ModelView {
  return { id: `${p.id}/${m.name}`, ...modelDoc(m) };
}

/**
 * Merges request fields into a document: `null` clears an optional field (its default applies), `gatewayId` is
 * the API's name for `gateway`. Returns what happens to the stored key.
 */
function mergeFields(doc: Doc, fields: Doc): SecretUpdate {
  let secret: SecretUpdate = KEEP_SECRET;
  for (const [rawKey, value] of Object.entries(fields)) {
    const key = rawKey === 'gatewayId' ? 'gateway' : rawKey;
    if (key === 'apiKey') {
      if (value === null) {
        secret = { set: null };
        continue;
      }
      // Validated (and a `${VAR}` resolved) with the rest; the caller stores what the reader made of it.
      secret = { set: '' };
    }
    if (value === null) {
      delete doc[key];
    } else {
      doc[key] = value;
    }
  }
  return secret;
}

/** `{template, ...overrides}`: the template's settings under the overrides; the id defaults to the template's name. */
function fromTemplate(fields: Doc): Doc {
  if (!('template' in fields)) {
    const doc: Doc = {};
    mergeFields(doc, fields);
    return doc;
  }
  const { template, ...overrides } = fields;
  const found = typeof template === 'string' ? templateNamed(template) : undefined;
  if (found === undefined) {
    throw new GatewayError(
      ErrorCode.InvalidRequest,
      `Unknown template: one of ${PROVIDER_TEMPLATES.map((t) => t.name).join(', ')}.`,
      { param: 'template' },
    );
  }
  const merged: Doc = { id: found.name, ...structuredClone(found.settings) };
  mergeFields(merged, overrides);
  return merged;
}
