import { createHash } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { mayUseDeployment, mayUseModelRef, type Deployment } from '@aigw/core';
import { CatalogService } from '@aigw/platform';
import type { CircuitStatus } from '@aigw/routing';
import { DeploymentSignals } from './deployment-signals.service';
import { modelListing, type ModelListing } from './model-listing';
import { openAiModelList, type OpenAiModel, type OpenAiModelList } from './model-views';

/** The native listing as sent: its JSON text and the ETag of that text. */
export interface RenderedListing {
  body: string;
  etag: string;
}

/** A fingerprint of what decides availability, so an unchanged listing is not serialised and hashed again. */
function circuitKey(states: ReadonlyMap<string, CircuitStatus>): string {
  let key = '';
  for (const [id, s] of states) {
    if (!s.available) {
      // Why, too: an open circuit that turns into a cooldown (or one cooldown into a longer one) changes the listing.
      key += `${id}:${s.cooldownStatus === undefined ? 'open' : (s.cooldownUntil ?? '')};`;
    }
  }
  return key;
}

/** Restricted keys' native listings kept per allow-list until the next rebuild; past this many, all are dropped. */
const MAX_RESTRICTED_LISTINGS = 256;

function rendered(listing: ModelListing): RenderedListing {
  const body = JSON.stringify(listing);
  return { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
}

/**
 * Model lists. The OpenAI one is rebuilt only when the catalog object changes (CatalogService replaces it on
 * every reload); the native one also when the statistics refresh or a circuit opens or closes.
 */
@Injectable()
export class ModelListsService {
  private openAi: { source: object; view: OpenAiModelList; byId: Map<string, OpenAiModel> } | null = null;
  private native: {
    catalog: object;
    signals: object;
    circuits: string;
    /** The whole listing (unrestricted keys), once asked for. */
    rendered: RenderedListing | null;
    /** The anonymous listing (nobody, with MODELS_PUBLIC): the enabled deployments only, once asked for. */
    anonymous: RenderedListing | null;
    /** Keyed by a restricted key's allow-list. */
    restricted: Map<string, RenderedListing>;
  } | null = null;

  constructor(
    private readonly catalog: CatalogService,
    private readonly signals: DeploymentSignals,
  ) {}

  /**
   * The OpenAI list, of the entries a key with this allow-list may use (`null`: unrestricted, the whole cached list).
   * A restricted key's list is filtered per request, in memory: entries × deployments comparisons.
   */
  openAiModels(allowed: readonly string[] | null = null): OpenAiModelList {
    const { view } = this.openAiLists();
    if (allowed === null) {
      return view;
    }
    const deployments = this.catalog.deployments();
    return { ...view, data: view.data.filter((m) => mayUseModelRef(allowed, m.id, deployments)) };
  }

  /**
   * One entry of the OpenAI list a key with this allow-list is shown (`provider/model` or a model name), or undefined
   * when that list holds no such id: a model the key may not use is as absent as one that does not exist, so that
   * retrieving it tells the key no more than listing does (OpenAI answers 404 for a model the key cannot see).
   */
  openAiModel(id: string, allowed: readonly string[] | null = null): OpenAiModel | undefined {
    const model = this.openAiLists().byId.get(id);
    if (model === undefined || allowed === null) {
      return model;
    }
    return mayUseModelRef(allowed, model.id, this.catalog.deployments()) ? model : undefined;
  }

  private openAiLists(): { view: OpenAiModelList; byId: Map<string, OpenAiModel> } {
    const source = this.catalog.current;
    if (this.openAi?.source !== source) {
      const view = openAiModelList(source, (id) => this.catalog.createdAt(id));
      this.openAi = { source, view, byId: new Map(view.data.map((m) => [m.id, m])) };
    }
    return this.openAi;
  }

  /**
   * The native listing: at most one Redis read per CIRCUIT_CACHE_MS, no database access. For a key restricted by
   * `allowedModels` (`allowed`), the deployments it may use only, `recommended` decided among them: as `GET /v1/models`,
   * it must not tell the key which other models exist (nor, by a `recommended` it is not shown, that a better one
   * does). For nobody (`'anonymous'`, MODELS_PUBLIC), the enabled deployments only: a disabled one is the operator's
   * internal business, not the public's. Rendered once per audience until the catalog, the statistics or a circuit
   * changes.
   */
  async listing(allowed: readonly string[] | null | 'anonymous' = null): Promise<RenderedListing> {
    const catalog = this.catalog.current;
    const deployments = this.catalog.deployments();
    const slow = this.signals.signals();
    const states = await this.signals.circuits(deployments.map((d) => d.id));
    const circuits = circuitKey(states);
    let n = this.native;
    if (n === null || n.catalog !== catalog || n.signals !== slow || n.circuits !== circuits) {
      n = { catalog, signals: slow, circuits, rendered: null, anonymous: null, restricted: new Map() };
      this.native = n;
    }
    const unserved = this.catalog.unservedDeployments();
    const render = (shown: readonly Deployment[]): RenderedListing =>
      rendered(modelListing(shown, slow, states, unserved));
    if (allowed === null) {
      n.rendered ??= render(deployments);
      return n.rendered;
    }
    if (allowed === 'anonymous') {
      // `recommended` is decided among enabled deployments anyway, so it is the same as in the whole listing.
      n.anonymous ??= render(deployments.filter((d) => d.provider.enabled && d.model.enabled));
      return n.anonymous;
    }
    const key = JSON.stringify(allowed);
    let listing = n.restricted.get(key);
    if (listing === undefined) {
      if (n.restricted.size >= MAX_RESTRICTED_LISTINGS) {
        n.restricted.clear();
      }
      listing = render(deployments.filter((d) => mayUseDeployment(allowed, d)));
      n.restricted.set(key, listing);
    }
    return listing;
  }
}
