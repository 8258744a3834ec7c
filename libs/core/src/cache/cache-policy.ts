import { createHash } from 'node:crypto';
import type { ModelSpec } from '../catalog';
import type { GenerationResult } from '../domain';
import { merged } from '../objects';
import type { CacheFill } from './cache-key';
import { resolveModelRef } from '../model-ref';

/** Whether a request may use the response cache, how long its answer is fresh, and kept past that for stale answers. */
export interface CachePolicy {
  enabled: boolean;
  ttlS: number;
  staleTtlS: number;
}

/**
 * The cache policy of a request from the models that can serve it (ADR 0005): a model's `cache` settings override
 * the global defaults field by field. A bare model name served by several providers whose settings disagree: off
 * wins over on (an operator who turned a model's cache off meant it) and the shortest TTLs win.
 */
export function cachePolicyOf(models: Iterable<Pick<ModelSpec, 'cache'>>, defaults: CachePolicy): CachePolicy {
  let enabled: boolean | undefined;
  let ttlS: number | undefined;
  let staleTtlS: number | undefined;
  for (const { cache } of models) {
    if (cache?.enabled !== undefined) {
      enabled = enabled === undefined ? cache.enabled : enabled && cache.enabled;
    }
    if (cache?.ttlS !== undefined) {
      ttlS = ttlS === undefined ? cache.ttlS : Math.min(ttlS, cache.ttlS);
    }
    if (cache?.staleTtlS !== undefined) {
      staleTtlS = staleTtlS === undefined ? cache.staleTtlS : Math.min(staleTtlS, cache.staleTtlS);
    }
  }
  return {
    enabled: enabled ?? defaults.enabled,
    ttlS: ttlS ?? defaults.ttlS,
    staleTtlS: staleTtlS ?? defaults.staleTtlS,
  };
}

/**
 * The fill of an answer as the model that produced it allows: null when that model's own `cache.enabled` is false,
 * else the fill with its TTLs no longer than the model's own. The gateway resolves a request's policy from the models
 * that may answer it, but an alias (`auto`, `cheapest`, ...) follows the global settings (it may reach any model): an
 * answer a model whose cache an operator turned off gave to `auto` was stored and served for CACHE_TTL_S all the
 * same. Only the answer says which model it was, so the worker narrows the fill by it (a no-op for a request naming
 * a model: its policy already holds that model's settings).
 */
export function fillAllowedBy(fill: CacheFill, model: Pick<ModelSpec, 'cache'> | undefined): CacheFill | null {
  const own = model?.cache;
  if (own === undefined) {
    return fill;
  }
  if (own.enabled === false) {
    return null;
  }
  const ttlS = Math.min(fill.ttlS, own.ttlS ?? fill.ttlS);
  const staleTtlS =
    fill.staleTtlS === undefined ? undefined : Math.min(fill.staleTtlS, own.staleTtlS ?? fill.staleTtlS);
  return ttlS === fill.ttlS && staleTtlS === fill.staleTtlS ? fill : merged(fill, { ttlS, staleTtlS });
}

/** Whether the model that produced a stored answer lets it be served: not once its own cache is turned off. */
export function answerCacheable(model: Pick<ModelSpec, 'cache'> | undefined): boolean {
  return model?.cache?.enabled !== false;
}

/**
 * Whether an answer may be stored, or served from the cache, as the request's: not one a provider's content filter cut
 * short (`finish_reason: "content_filter"`: Azure's and OpenAI's output filters, Gemini's SAFETY, RECITATION and
 * blocked prompts, Claude's `refusal`). That is one sample's verdict, often with part of the text or none: stored, it
 * was served to every identical request, every tenant's under CACHE_SCOPE=global, for the whole TTL, while asking
 * again usually gives the whole answer. It reaches its own client as it came; the next identical request asks again.
 */
export function answerStorable(answer: Pick<GenerationResult, 'finishReason'>): boolean {
  return answer.finishReason !== 'content_filter';
}

/** Length (hex) of the model tag in a cache entry's Redis key: 64 bits, collisions only merge two invalidations. */
export const CACHE_MODEL_TAG_LENGTH = 16;

/**
 * The model part of a cache entry's Redis key (`<prefix>:cache:<modelTag>:<key>`), so that invalidating one
 * model's entries is a SCAN over a pattern with no index to keep. A hash: model names may hold glob characters.
 * `modelName` is the model without a provider prefix (`gpt-4o` for both `gpt-4o` and `openai/gpt-4o`).
 */
export function cacheModelTag(modelName: string): string {
  return createHash('sha256').update(modelName).digest('hex').slice(0, CACHE_MODEL_TAG_LENGTH);
}

/** The model tag of a requested model string: a provider prefix the catalog knows is not part of it. */
export function cacheModelTagOf(requestedModel: string, providerIds: ReadonlySet<string>): string {
  return cacheModelTag(resolveModelRef(requestedModel, providerIds).model);
}
