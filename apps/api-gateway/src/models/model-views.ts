import type { Catalog, Deployment } from '@aigw/core';
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
