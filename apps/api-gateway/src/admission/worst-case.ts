import {
  countTextTokens,
  estimateRequestTokenShares,
  isModelAlias,
  longCacheWritePer1k,
  mayUseDeployment,
  reachableDeployments,
  type CacheControl,
  type Deployment,
  type GenerationRequest,
  type RequestTokens,
} from '@aigw/core';

/** What admission charges a request before it runs: tokens for the per-minute limits, USD for the budgets. */
export interface Charge {
  tokens: number;
  reserveUsd: number;
  /** Of `tokens`, the estimate for the request's audio and file parts (`estimateRequestTokenShares`). */
  mediaTokens: number;
  /** Of `reserveUsd`, what `mediaTokens` cost at that price. */
  mediaReserveUsd: number;
}

/** A chat request's prompt as routing estimates it (`estimateRequestTokenShares`); an embeddings request's inputs. */
function promptTokensOf(request: Pick<GenerationRequest, 'messages' | 'options' | 'embeddings'>): RequestTokens {
  const embeddings = request.embeddings;
  if (embeddings === undefined) {
    // Images by their size where a data URL's header gives it, else at the most one is billed, in the media share
    // (image-tokens.ts): a rough bound, like the audio and file parts', and reserved as that share is.
    return estimateRequestTokenShares(request.messages, request.options.tools);
  }
  let tokens = 0;
  for (const item of embeddings.input) {
    tokens += typeof item === 'string' ? countTextTokens(item) : item.length;
  }
  return { tokens, mediaTokens: 0 };
}

/**
 * The fields the gateway does not model and passes through to OpenAI-compatible providers (`options.extra`), counted
 * as their JSON text, as tool definitions are: some carry what the provider bills (vLLM's `documents`, rendered into
 * the prompt; OpenAI's `prediction`, whose rejected tokens are billed as completion). Left out, a request reserved a
 * few tokens and was billed thousands, and concurrent ones took a user several times past a budget. Nothing for a
 * request without such fields (most): one property read.
 */
function passThroughTokens(request: Pick<GenerationRequest, 'options'>): number {
  const extra = request.options.extra;
  return extra === undefined ? 0 : countTextTokens(JSON.stringify(extra));
}

/**
 * The JSON schema an answer must follow (`response_format` `json_schema`): given to the model with the prompt and
 * billed as prompt, as tool definitions are, which the routing estimate counts and this it does not. Nothing for a
 * request without one.
 */
function schemaTokens(request: Pick<GenerationRequest, 'options'>): number {
  const format = request.options.responseFormat;
  return format?.type === 'json_schema' ? countTextTokens(JSON.stringify(format.json_schema)) : 0;
}

const isLong = (c: CacheControl | undefined): boolean => c?.ttl === '1h';

/**
 * Whether the request marks a prompt-cache breakpoint that lives an hour (`cache_control.ttl: "1h"`, Claude's): the
 * prompt before it may be written at twice the input price (`longCacheWritePer1k`). A loop over the messages' parts,
 * tool calls and tools; the usual request, without any `cache_control`, stops at nothing.
 */
function asksLongCache(request: Pick<GenerationRequest, 'messages' | 'options'>): boolean {
  for (const t of request.options.tools ?? []) {
    if (isLong(t.cache_control)) {
      return true;
    }
  }
  for (const m of request.messages) {
    if (isLong(m.cache_control)) {
      return true;
    }
    if (Array.isArray(m.content)) {
      for (const p of m.content) {
        if (p.type !== 'input_audio' && isLong(p.cache_control)) {
          return true;
        }
      }
    }
    for (const c of m.tool_calls ?? []) {
      if (isLong(c.cache_control)) {
        return true;
      }
    }
  }
  return false;
}

/**
 * The most a request can cost: its estimated prompt tokens (the routing estimate: tool definitions included, and its
 * audio and file parts by their size; and the answer's JSON schema), the fields passed through to the provider
 * (`passThroughTokens`), plus its completion allowance (`max_tokens`, or `defaultMaxTokens` when absent) at the
 * highest prompt and completion prices among the deployments that may serve it (a prompt cache write's included,
 * and a 1-hour one's where the request asks for that cache). Settlement refunds the
 * difference, so over-reserving only delays other requests of a user close to their budget; under-reserving could let
 * concurrent requests overspend it. The audio and file parts' share (`mediaTokens`, `mediaReserveUsd`), a rough
 * estimate, is reserved only as far as each limit leaves (ADMIT_LUA): it never makes a request too large on its own.
 */
export function worstCaseCharge(
  request: Pick<GenerationRequest, 'model' | 'messages' | 'options' | 'embeddings'>,
  candidates: readonly Deployment[],
  defaultMaxTokens: number,
): Charge {
  const { tokens: estimate, mediaTokens } = promptTokensOf(request);
  const prompt = estimate + schemaTokens(request);
  const completion = request.embeddings === undefined ? (request.options.maxTokens ?? defaultMaxTokens) : 0;
  const passed = passThroughTokens(request);
  let promptPer1k = 0;
  let completionPer1k = 0;
  const longCache = candidates.length > 0 && asksLongCache(request);
  for (const d of candidates) {
    promptPer1k = Math.max(
      promptPer1k,
      d.model.promptPer1k,
      d.model.cacheWritePer1k ?? 0,
      longCache ? longCacheWritePer1k(d.model) : 0,
    );
    completionPer1k = Math.max(completionPer1k, d.model.completionPer1k);
  }
  return {
    tokens: prompt + passed + completion,
    // Pass-through fields may be billed as prompt or as completion: at the higher of the two prices.
    reserveUsd:
      (prompt / 1000) * promptPer1k +
      (completion / 1000) * completionPer1k +
      (passed / 1000) * Math.max(promptPer1k, completionPer1k),
    mediaTokens,
    mediaReserveUsd: (mediaTokens / 1000) * promptPer1k,
  };
}

/**
 * The deployments a request may reach: an alias ranges over every enabled one; a pinned `provider/model` with
 * fallback allowed also over every deployment of that model name, as the worker's candidate filter does
 * (`reachableDeployments`); otherwise the ones serving the reference (the catalog's map, no scan). A key's
 * `allowedModels` narrows them as it narrows the worker's candidates: pricing a deployment the key may not use
 * would refuse a request its budget covers.
 */
export function reachable(
  request: Pick<GenerationRequest, 'model' | 'allowFallback' | 'allowedModels'>,
  all: readonly Deployment[],
  serving: (ref: string) => Deployment[],
): readonly Deployment[] {
  const reached = isModelAlias(request.model)
    ? all.filter((d) => d.provider.enabled && d.model.enabled)
    : request.allowFallback === true
      ? reachableDeployments(all, { model: request.model, allowFallback: true })
      : serving(request.model);
  const allowed = request.allowedModels;
  return allowed === undefined ? reached : reached.filter((d) => mayUseDeployment(allowed, d));
}
