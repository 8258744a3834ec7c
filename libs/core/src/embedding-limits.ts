import type { ProviderSpec } from './catalog';

/**
 * The most inputs one embeddings request may carry, per API. A longer input list is sent by the adapter as
 * consecutive requests of at most this many (their vectors joined in input order, their usage added up), so that a
 * client may send up to MAX_EMBEDDING_INPUTS_SETTING (OpenAI's 2048) to any deployment.
 */

/** The largest `maxEmbeddingInputs` a provider may set: the gateway takes no more inputs than OpenAI's 2048. */
export const MAX_EMBEDDING_INPUTS_SETTING = 2048;

/** Google's `batchEmbedContents` takes at most 100 requests (ai.google.dev, Embeddings API). */
export const GEMINI_EMBEDDING_INPUTS = 100;

/**
 * OpenAI-compatible APIs whose limit is known by their host. OpenAI: "any array must be 2048 dimensions or less"
 * (API reference, Create embeddings). Cohere's Compatibility API: 96 texts a call (docs.cohere.com, Embed). Voyage AI:
 * "The maximum length of the list is 1,000" (docs.voyageai.com, Text embedding models; 128 in older versions of that
 * page). Hugging Face Inference Endpoints serve embedding models with Text Embeddings Inference, which refuses more
 * than its `--max-client-batch-size`, 32 by default (a 422 "batch size N > maximum allowed batch size 32").
 */
const KNOWN_HOSTS: readonly { host: RegExp; max: number }[] = [
  { host: /^api\.openai\.com$/, max: 2048 },
  { host: /^api\.cohere\.(ai|com)$/, max: 96 },
  { host: /^api\.voyageai\.com$/, max: 1000 },
  { host: /\.endpoints\.huggingface\.cloud$/, max: 32 },
];

/** Per base URL, so that a request pays a map lookup, not a URL parse (bounded: a catalog has a few dozen). */
const hostLimits = new Map<string, number | undefined>();

function hostLimit(baseUrl: string): number | undefined {
  if (hostLimits.has(baseUrl)) {
    return hostLimits.get(baseUrl);
  }
  let host = '';
  try {
    host = new URL(baseUrl).hostname.toLowerCase();
  } catch {
    // An invalid URL never reaches a call; no limit is as good as any.
  }
  const max = KNOWN_HOSTS.find((k) => k.host.test(host))?.max;
  if (hostLimits.size < 1024) {
    hostLimits.set(baseUrl, max);
  }
  return max;
}

/**
 * The most inputs one embeddings request to `provider` carries: its catalog `maxEmbeddingInputs`, else the default of
 * its family: Gemini's 100; for the OpenAI-compatible family the limit of an API known by its host (KNOWN_HOSTS);
 * undefined (the gateway's own 2048 only) for any other server, whose limit the gateway cannot know: a self-hosted TEI
 * (32 by default) is set so in the catalog, or is learnt from its first refusal (the OpenAI adapter reads the limit
 * TEI's refusal states).
 */
export function embeddingInputsLimit(
  provider: Pick<ProviderSpec, 'kind' | 'baseUrl' | 'maxEmbeddingInputs'>,
): number | undefined {
  if (provider.maxEmbeddingInputs !== undefined) {
    return provider.maxEmbeddingInputs;
  }
  switch (provider.kind) {
    case 'gemini':
      return GEMINI_EMBEDDING_INPUTS;
    case 'openai':
      return hostLimit(provider.baseUrl);
    case 'ollama':
    case 'anthropic':
    case 'tgi':
    case 'plugin':
      // Ollama states no limit; Anthropic and TGI embed nothing; a plugin is told only what the catalog sets.
      return undefined;
  }
}
