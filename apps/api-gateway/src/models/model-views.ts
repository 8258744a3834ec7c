import type { Capability, Catalog, Deployment, ProviderKind, RoutingMethod } from '@aigw/core';
import { deploymentsOf } from '@aigw/core';

export interface OpenAiModel {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
}

export interface OpenAiModelList {
  object: 'list';
  data: OpenAiModel[];
}

/** A deployment as the native API shows it: what it costs and can do, never where it is or its key. */
export interface DeploymentView {
  id: string;
  provider: string;
  providerKind: ProviderKind;
  model: string;
  contextWindow: number;
  capabilities: Capability[];
  pricing: { promptPer1k: number; completionPer1k: number; cachedPromptPer1k: number | null };
  quality: number | null;
  routing: RoutingMethod;
}

export interface DeploymentList {
  object: 'list';
  data: DeploymentView[];
}

function enabledDeployments(catalog: Catalog): Deployment[] {
  return deploymentsOf(catalog).filter((d) => d.provider.enabled && d.model.enabled);
}

/** Every enabled deployment (`provider/model`), then every distinct model name (served by any provider). */
export function openAiModelList(catalog: Catalog, created: number): OpenAiModelList {
  const data: OpenAiModel[] = [];
  const names = new Set<string>();
  for (const d of enabledDeployments(catalog)) {
    data.push({ id: d.id, object: 'model', created, owned_by: d.provider.id });
    names.add(d.model.name);
  }
  for (const name of names) {
    data.push({ id: name, object: 'model', created, owned_by: 'aigw' });
  }
  return { object: 'list', data };
}

/** Field by field on purpose: the catalog objects hold the provider's base URL and API key. */
export function deploymentList(catalog: Catalog): DeploymentList {
  return {
    object: 'list',
    data: enabledDeployments(catalog).map((d) => ({
      id: d.id,
      provider: d.provider.id,
      providerKind: d.provider.kind,
      model: d.model.name,
      contextWindow: d.model.contextWindow,
      capabilities: [...d.model.capabilities],
      pricing: {
        promptPer1k: d.model.promptPer1k,
        completionPer1k: d.model.completionPer1k,
        cachedPromptPer1k: d.model.cachedPromptPer1k ?? null,
      },
      quality: d.model.quality ?? null,
      routing: d.provider.routing,
    })),
  };
}
