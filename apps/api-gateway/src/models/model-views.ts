import type { Catalog, Deployment } from '@aigw/core';
import { deploymentsOf, resolveModelRef } from '@aigw/core';

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

/**
 * Every enabled deployment (`provider/model`), then every distinct model name (served by any provider). `created` is
 * when the deployment was added to the catalog (its row's `created_at`), and a model name's is its earliest enabled
 * deployment's: values every replica shows alike and a restart does not change, so that a client caching the list
 * sees no churn. Unknown (a catalog applied without its rows' times): 0, stable too.
 *
 * A model name whose first segment is a provider id (OpenRouter's `openai/gpt-4o` beside a provider `openai`) is left
 * out: as a request's `model` it names that provider's deployment (`resolveModelRef`), so listed it was a second
 * entry of that deployment's id, or an id that answers 404 model_not_found (that provider has no such model). Its
 * deployments are listed by their own ids (`openrouter/openai/gpt-4o`), which reach them.
 *
 * The list is what a request's `model` may name, and `GET /v1/models/{id}` retrieves from it: a deployment whose
 * provider's own model list lacked the model at the monitor's last probe (unserved) is in it, and so is a model name
 * only such deployments serve. Requests naming them are accepted and routed (after the others: that list may not name
 * every model a server accepts), so a 404 here would tell a client that checks its model first that a model it can
 * use does not exist. The mark shows where availability is reported (`GET /api/v1/ai/models`: `model_unserved`), and
 * the list does not change with each probe's verdict.
 */
export function openAiModelList(
  catalog: Catalog,
  createdAt: (deploymentId: string) => number | undefined,
): OpenAiModelList {
  const data: OpenAiModel[] = [];
  const names = new Map<string, number>();
  const providerIds = new Set(catalog.providers.map((p) => p.id));
  for (const d of enabledDeployments(catalog)) {
    const created = createdAt(d.id) ?? 0;
    data.push({ id: d.id, object: 'model', created, owned_by: d.provider.id });
    if (resolveModelRef(d.model.name, providerIds).provider !== null) {
      continue;
    }
    const earliest = names.get(d.model.name);
    names.set(d.model.name, earliest === undefined ? created : Math.min(earliest, created));
  }
  for (const [name, created] of names) {
    data.push({ id: name, object: 'model', created, owned_by: 'aigw' });
  }
  return { object: 'list', data };
}

/** Anthropic's `ModelInfo`, as its Models API (`GET /v1/models[/{id}]`) answers it. */
export interface AnthropicModel {
  type: 'model';
  id: string;
  display_name: string;
  /** RFC 3339. */
  created_at: string;
}

/** A page of Anthropic's model list: `first_id` / `last_id` are the cursors of the pages before and after it. */
export interface AnthropicModelPage {
  data: AnthropicModel[];
  has_more: boolean;
  first_id: string | null;
  last_id: string | null;
}

/** An entry of the OpenAI list as Anthropic's SDKs read a model: the id is what `model` takes, so also its name. */
export function anthropicModel(m: OpenAiModel): AnthropicModel {
  return { type: 'model', id: m.id, display_name: m.id, created_at: new Date(m.created * 1000).toISOString() };
}

/** Where a page of Anthropic's list starts: after one id, before one, or at the start. */
export type AnthropicCursor = { afterId: string } | { beforeId: string } | null;

/**
 * The page of `limit` entries next to the cursor, in the OpenAI list's order (`before_id` pages back, as
 * Anthropic's API does: the `limit` entries just before it). Undefined when the cursor is no id of the list.
 */
export function anthropicModelPage(
  list: readonly OpenAiModel[],
  limit: number,
  cursor: AnthropicCursor,
): AnthropicModelPage | undefined {
  let start = 0;
  let end: number;
  let hasMore: boolean;
  if (cursor !== null && 'beforeId' in cursor) {
    end = list.findIndex((m) => m.id === cursor.beforeId);
    if (end < 0) {
      return undefined;
    }
    start = Math.max(0, end - limit);
    hasMore = start > 0;
  } else {
    if (cursor !== null) {
      const at = list.findIndex((m) => m.id === cursor.afterId);
      if (at < 0) {
        return undefined;
      }
      start = at + 1;
    }
    end = Math.min(list.length, start + limit);
    hasMore = end < list.length;
  }
  const data = list.slice(start, end).map(anthropicModel);
  return { data, has_more: hasMore, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null };
}
