import { createHash } from 'node:crypto';
import type { ModelSpec } from '../catalog';
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
