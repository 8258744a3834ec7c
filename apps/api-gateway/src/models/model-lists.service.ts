import { createHash } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { mayUseModelRef } from '@aigw/core';
import { CatalogService } from '@aigw/platform';
import type { CircuitStatus } from '@aigw/routing';
import { DeploymentSignals } from './deployment-signals.service';
import { modelListing } from './model-listing';
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
      key += `${id};`;
    }
  }
  return key;
}

/**
 * Model lists. The OpenAI one is rebuilt only when the catalog object changes (CatalogService replaces it on
 * every reload); the native one also when the statistics refresh or a circuit opens or closes.
 */
@Injectable()
export class ModelListsService {
  private openAi: { source: object; view: OpenAiModelList; byId: Map<string, OpenAiModel> } | null = null;
  private native: { catalog: object; signals: object; circuits: string; rendered: RenderedListing } | null = null;

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

  /** The native listing: at most one Redis read per CIRCUIT_CACHE_MS, no database access. */
  async listing(): Promise<RenderedListing> {
    const catalog = this.catalog.current;
    const deployments = this.catalog.deployments();
    const slow = this.signals.signals();
    const states = await this.signals.circuits(deployments.map((d) => d.id));
    const circuits = circuitKey(states);
    const n = this.native;
    if (n !== null && n.catalog === catalog && n.signals === slow && n.circuits === circuits) {
      return n.rendered;
    }
    const body = JSON.stringify(modelListing(deployments, slow, states));
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
    this.native = { catalog, signals: slow, circuits, rendered: { body, etag } };
    return this.native.rendered;
  }
}
