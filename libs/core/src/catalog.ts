import type { Pricing } from './cost';

/** The provider catalog (PROVIDERS_FILE, YAML) after parsing, interpolation and validation. */

/**
 * Wire formats (one adapter each): `openai` (Chat Completions and every compatible server), `anthropic`
 * (Messages), `gemini` (generateContent), `ollama` (native `/api/chat`), `tgi` (HuggingFace text-generation-inference
 * `/generate`), `plugin` (an operator's module implementing the adapter interface, named by `plugin`).
 */
export type ProviderKind = 'openai' | 'anthropic' | 'gemini' | 'ollama' | 'tgi' | 'plugin';
export const PROVIDER_KINDS: readonly ProviderKind[] = ['openai', 'anthropic', 'gemini', 'ollama', 'tgi', 'plugin'];

export type RoutingMethod = 'direct' | 'gateway' | 'auto';
export const ROUTING_METHODS: readonly RoutingMethod[] = ['direct', 'gateway', 'auto'];

/**
 * How the health monitor probes a provider: `health` (default) reads the model list or the server's health
 * endpoint and is never billed; `completion` sends a one-token completion (billed), for providers whose cheap
 * endpoints do not prove that generation works.
 */
export type ProbeMode = 'health' | 'completion';
export const PROBE_MODES: readonly ProbeMode[] = ['health', 'completion'];

export type Capability = 'chat' | 'streaming' | 'tools' | 'vision' | 'json' | 'embeddings';

/**
 * A model's response cache settings (ADR 0005): each field set here overrides the gateway's global default for
 * requests to this model (`enabled` over CACHE_ENABLED, `ttlS` over CACHE_TTL_S, `staleTtlS` over CACHE_STALE_TTL_S).
 */
export interface ModelCacheSettings {
  enabled?: boolean;
  /** Seconds an answer is served from the cache. */
  ttlS?: number;
  /** Seconds an answer is kept past `ttlS` to answer, stale, when every provider failed; 0: never. */
  staleTtlS?: number;
}

export interface ModelSpec extends Pricing {
  /** Name clients use (`provider-id/<name>`). */
  name: string;
  /** Name sent upstream when it differs (defaults to `name`). */
  upstreamName?: string;
  /** Shown by the models listing and preferences (defaults to `name`). */
  displayName?: string;
  /** One or two sentences for people choosing a model. */
  description?: string;
  contextWindow: number;
  capabilities: Capability[];
  /** 0..1, for the `quality` policy. */
  quality?: number;
  /** Flags the deployment `recommended` in the models listing, over the computed rule. */
  recommended?: boolean;
  enabled: boolean;
  /** Response cache settings of this model; absent: the global ones. */
  cache?: ModelCacheSettings;
}

export interface ProviderSpec {
  id: string;
  /** Shown by the models listing and preferences (defaults to `id`). */
  displayName?: string;
  kind: ProviderKind;
  baseUrl: string;
  /** Secret. Never logged, never returned by an endpoint. */
  apiKey?: string;
  /**
   * The environment reference the key was configured with (`${ZAI_API_KEY}`, or `${ZAI_API_KEY:-}`), when it
   * was one; a config export writes this instead of the key. Never a reference with a literal default.
   */
  apiKeyRef?: string;
  enabled: boolean;
  timeoutMs: number;
  /** Max pooled connections to this provider. */
  maxConnections: number;
  routing: RoutingMethod;
  /** Gateway id, required when routing is `gateway` or `auto`. */
  gateway?: string;
  /** `kind: plugin` only: the module (a path, relative to the working directory, or a package) exporting the adapter. */
  plugin?: string;
  /**
   * A cheap health endpoint the health check reads instead of the model list, as a path on the baseUrl's origin
   * (llama.cpp server and vLLM: `/health`).
   */
  healthPath?: string;
  /** How the health monitor probes it; absent means `health` (never billed). */
  probe?: ProbeMode;
  /** Seconds between the health monitor's probes of this provider; absent: HEALTH_INTERVAL_S. */
  healthIntervalS?: number;
  /**
   * The most inputs one embeddings request to this provider may carry (1..2048): a longer input list is sent as
   * consecutive requests of at most this many. Absent: the default of its family (`embeddingInputsLimit`).
   */
  maxEmbeddingInputs?: number;
  models: ModelSpec[];
}

/** An OpenAI-compatible proxy (e.g. a LiteLLM proxy) that providers can be routed through. */
export interface GatewaySpec {
  id: string;
  baseUrl: string;
  apiKey?: string;
  /** As ProviderSpec.apiKeyRef. */
  apiKeyRef?: string;
  timeoutMs: number;
}

export interface Catalog {
  providers: ProviderSpec[];
  gateways: GatewaySpec[];
}

/** A provider × model pair as routing sees it. `id` is `provider/model`. */
export interface Deployment {
  id: string;
  provider: ProviderSpec;
  model: ModelSpec;
}

export function deploymentsOf(catalog: Catalog): Deployment[] {
  const out: Deployment[] = [];
  for (const provider of catalog.providers) {
    for (const model of provider.models) {
      out.push({ id: `${provider.id}/${model.name}`, provider, model });
    }
  }
  return out;
}
