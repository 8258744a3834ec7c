import type { Deployment } from '../catalog';
import { isModelAlias, resolveModelRef } from '../model-ref';

/**
 * An API key's allow-list entry: a model name (`gpt-4o`: that model at any provider), a deployment
 * (`openai/gpt-4o`) or every model of a provider (`openai/*`).
 */
export type AllowedModelEntry = string;

const PROVIDER_WILDCARD = '/*';

/**
 * May a key with this allow-list call this deployment? `null`/absent: the key is unrestricted. Model
 * names may hold slashes (`meta-llama/Llama-3-8B`), so an entry is compared both as a model name and as
 * a deployment id rather than parsed.
 */
export function mayUseDeployment(
  allowed: readonly AllowedModelEntry[] | null | undefined,
  d: Pick<Deployment, 'id'> & { provider: { id: string }; model: { name: string } },
): boolean {
  if (allowed === null || allowed === undefined) {
    return true;
  }
  for (const entry of allowed) {
    if (entry === d.model.name || entry === d.id) {
      return true;
    }
    if (entry.endsWith(PROVIDER_WILDCARD) && entry.slice(0, -PROVIDER_WILDCARD.length) === d.provider.id) {
      return true;
    }
  }
  return false;
}

/**
 * May a key with this allow-list ask for `modelRef` (an alias, a model name or `provider/model`)? True when
 * at least one enabled deployment the ref names is allowed: aliases range over every enabled deployment.
 * Which of them may actually answer is `filterCandidates`' job (with `allowedModels`).
 */
export function mayUseModelRef(
  allowed: readonly AllowedModelEntry[] | null | undefined,
  modelRef: string,
  deployments: readonly Deployment[],
): boolean {
  if (allowed === null || allowed === undefined) {
    return true;
  }
  const providerIds = new Set(deployments.map((d) => d.provider.id));
  const ref = isModelAlias(modelRef) ? null : resolveModelRef(modelRef, providerIds);
  return deployments.some(
    (d) =>
      d.provider.enabled &&
      d.model.enabled &&
      (ref === null ||
        (ref.provider === null ? d.model.name === ref.model : d.id === `${ref.provider}/${ref.model}`)) &&
      mayUseDeployment(allowed, d),
  );
}

/** An allow-list entry's shape problem, or null: what admin input is checked with. */
export function allowedModelEntryProblem(entry: string): string | null {
  if (entry.includes('\u0000')) {
    return 'must not contain NUL characters';
  }
  if (entry.trim() !== entry || entry === '') {
    return 'must be a non-empty model name, provider/model or provider/* without surrounding spaces';
  }
  if (entry.includes('*') && !(entry.endsWith(PROVIDER_WILDCARD) && entry.indexOf('*') === entry.length - 1)) {
    return "may only use '*' as provider/*";
  }
  if (entry === PROVIDER_WILDCARD) {
    return 'needs a provider before /*';
  }
  return null;
}
