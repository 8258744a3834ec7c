/** `provider-id/model-name` pins a deployment; anything else names a model (or alias) served by any provider. */
export interface ModelRef {
  provider: string | null;
  model: string;
}

export const MODEL_ALIASES = ['auto', 'cheapest', 'fastest', 'best'] as const;
export type ModelAlias = (typeof MODEL_ALIASES)[number];

export function isModelAlias(model: string): model is ModelAlias {
  return (MODEL_ALIASES as readonly string[]).includes(model);
}

/**
 * Splits at the first slash only, because model names themselves often hold slashes
 * (`meta-llama/Llama-3-8B`): `hf/meta-llama/Llama-3-8B` is provider `hf`, model `meta-llama/Llama-3-8B`.
 * Whether the first segment really is a provider id is for the catalog to decide (see `resolveModelRef`).
 */
export function splitModelRef(ref: string): ModelRef {
  const i = ref.indexOf('/');
  if (i <= 0 || i === ref.length - 1) {
    return { provider: null, model: ref };
  }
  return { provider: ref.slice(0, i), model: ref.slice(i + 1) };
}

/** Interprets a model string against the set of known provider ids. */
export function resolveModelRef(ref: string, providerIds: ReadonlySet<string>): ModelRef {
  const split = splitModelRef(ref);
  if (split.provider !== null && providerIds.has(split.provider)) {
    return split;
  }
  return { provider: null, model: ref };
}
