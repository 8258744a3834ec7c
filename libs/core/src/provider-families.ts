import type { Capability, ProviderKind, RoutingMethod } from './catalog';
import type { Route } from './domain';

/**
 * What each wire format's adapter can honour. The catalog refuses a deployment that declares a capability its family
 * lacks (a TGI model cannot take tools: the native `/generate` API has none), routing keeps requests with fields a
 * family cannot honour away from it (see `requestNeedsOf`), and docs/providers.md is generated from these tables,
 * so the three cannot disagree.
 */
export interface ProviderFamily {
  /** Capabilities a deployment of this family may declare. */
  capabilities: readonly Capability[];
  /**
   * Provider-dependent request fields (OpenAI names; content part types `input_audio`, `file`; `temperature`
   * standing for a temperature above 1, `stop` for a stop sequence of whitespace only) the adapter translates. `all`: every field, unmodelled pass-through fields
   * included (the OpenAI-compatible family).
   */
  params: 'all' | ReadonlySet<string>;
  /**
   * Fields the family cannot honour even though `params` is `all`: what its wire format cannot say, as opposed to a
   * field it passes through unmodelled.
   */
  refuses?: ReadonlySet<string>;
}

/**
 * The request field standing for an assistant prefill: a `/v1/messages` request whose last message is an assistant
 * turn with text, which Anthropic's API continues (its answer holds only what follows the prefill). The OpenAI wire
 * format has no such thing: OpenAI's models answer a trailing assistant message anew (some compatible servers
 * refuse it), and a family cannot be told from the URL to be one of the servers that continue it (vLLM with
 * `continue_final_message`, DeepSeek's and Mistral's `prefix: true`). Ollama's `/api/chat` continues a final
 * assistant message (its chat templates leave it open). The others answer anew, so they are not candidates for it.
 */
export const ASSISTANT_PREFILL_PARAM = 'assistant_prefill';

/**
 * The request field standing for an image given by URL (an `image_url` part that is not a data URL): a family that
 * takes images as base64 only (Ollama's native API) cannot take one, and the gateway fetches nothing.
 */
export const REMOTE_IMAGE_PARAM = 'image_url.url';

/**
 * The request fields standing for a `file` part some families that take files cannot read (a request with a file
 * part needs `file` too): one naming a file by `file_id` (uploaded to one provider; Claude and Gemini read inline
 * data only), and one whose `file_data` is of a type other than a PDF or plain text (the two Claude reads, as
 * document blocks).
 */
export const FILE_ID_PARAM = 'file.file_id';
export const OTHER_FILE_TYPE_PARAM = 'file.media_type';

/**
 * The request field standing for an embeddings `input` of token ids (a token array, or a list of them), which OpenAI's
 * API takes as well as text: the native Gemini and Ollama APIs embed text only (their adapters refuse token arrays),
 * so only the OpenAI-compatible family is a candidate for it. Without it routing could send such a request to a
 * model's Ollama deployment (the cheapest, at zero cost) and answer 400 although its OpenAI-compatible deployment of
 * the same model (a vLLM or TEI server) would have embedded it.
 */
export const TOKEN_INPUT_PARAM = 'input.tokens';

/**
 * The request field standing for Anthropic's `service_tier: "standard_only"` (a `/v1/messages` request kept off
 * priority capacity): only Claude's API can be told it. OpenAI's `service_tier` takes other values (`standard_only`
 * is a 400 there), and the other families have no tiers to choose.
 */
export const STANDARD_TIER_PARAM = 'service_tier.standard_only';

/**
 * The request field standing for more stop sequences than OpenAI's chat API takes (`stop`: at most
 * MAX_OPENAI_STOP_SEQUENCES), which `/v1/messages` may send (Anthropic sets no such limit): the OpenAI-compatible
 * family and TGI (whose `max_stop_sequences` is 4 by default) answer 400. Claude and Ollama take them, and plugins
 * are sent them as they always were (a plugin's translation is the operator's word). Gemini takes 5, so it is not a
 * candidate either.
 */
export const MANY_STOPS_PARAM = 'stop.count';
export const MAX_OPENAI_STOP_SEQUENCES = 4;

/** The media types of `file_data` every family that takes `file` parts reads. */
export const DOCUMENT_MEDIA_TYPES: ReadonlySet<string> = new Set(['application/pdf', 'text/plain']);

/** Every chat capability; `embeddings` is added only where the adapter embeds. */
const ALL_CAPABILITIES: readonly Capability[] = ['chat', 'streaming', 'tools', 'vision', 'json'];

export const PROVIDER_FAMILIES: { readonly [K in ProviderKind]: ProviderFamily } = {
  // The families whose adapter embeds (`embedsWith`) declare `embeddings`; a spec keeps the two in step.
  openai: {
    capabilities: [...ALL_CAPABILITIES, 'embeddings'],
    params: 'all',
    refuses: new Set([ASSISTANT_PREFILL_PARAM, STANDARD_TIER_PARAM, MANY_STOPS_PARAM]),
  },
  // The Messages API has no JSON mode, and refuses a stop sequence of whitespace only (`"\n"`).
  // `file`: PDF and plain-text `file_data` as document blocks (not FILE_ID_PARAM nor OTHER_FILE_TYPE_PARAM).
  anthropic: {
    capabilities: ['chat', 'streaming', 'tools', 'vision'],
    params: new Set([
      'parallel_tool_calls',
      'user',
      'tool_choice',
      'top_k',
      'reasoning_effort',
      'file',
      REMOTE_IMAGE_PARAM,
      ASSISTANT_PREFILL_PARAM,
      STANDARD_TIER_PARAM,
      MANY_STOPS_PARAM,
    ]),
  },
  gemini: {
    capabilities: [...ALL_CAPABILITIES, 'embeddings'],
    params: new Set([
      'tool_choice',
      'response_format',
      'seed',
      'presence_penalty',
      'frequency_penalty',
      'input_audio',
      'file',
      // Any type of `file_data` as `inlineData` (not a `file_id`: FILE_ID_PARAM).
      OTHER_FILE_TYPE_PARAM,
      // As `fileData`, which the Gemini API fetches (Gemini 3 models; older ones answer with a 400 of their own).
      REMOTE_IMAGE_PARAM,
      'temperature',
      'stop',
      'top_k',
      'reasoning_effort',
      // `responseLogprobs` / `logprobs`, answered as OpenAI's `logprobs.content`.
      'logprobs',
      'top_logprobs',
    ]),
  },
  ollama: {
    capabilities: [...ALL_CAPABILITIES, 'embeddings'],
    params: new Set([
      'response_format',
      'seed',
      'presence_penalty',
      'frequency_penalty',
      'temperature',
      'stop',
      'top_k',
      'reasoning_effort',
      ASSISTANT_PREFILL_PARAM,
      MANY_STOPS_PARAM,
    ]),
  },
  // `/generate` is plain text in, text out: no tools, no images; JSON through its grammar parameter.
  tgi: {
    capabilities: ['chat', 'streaming', 'json'],
    params: new Set(['response_format', 'seed', 'frequency_penalty', 'temperature', 'stop', 'top_k']),
  },
  // The gateway cannot know what an operator's module translates: capabilities are the operator's word, and no
  // provider-dependent field is sent its way. Image URLs are OpenAI's own shape, and more than 4 stop sequences a
  // `/v1/messages` request's, which plugins have always been sent.
  // `embeddings` too: a module implementing the adapter's optional `embed` serves them, and one whose catalog entry
  // declares `embeddings` without it is refused where plugins load (AdapterRegistry.loadPlugins: a worker's boot, an
  // admin change), so routing sends embeddings only to plugins that embed.
  plugin: {
    capabilities: [...ALL_CAPABILITIES, 'embeddings'],
    params: new Set([REMOTE_IMAGE_PARAM, MANY_STOPS_PARAM]),
  },
};

/**
 * What a family's deployments take beyond their own API when reached through an OpenAI-compatible gateway (LiteLLM; the
 * route `gateway`), which translates OpenAI's fields to the family's API. Claude: JSON mode (`response_format`, the
 * `json` capability), which LiteLLM translates for Anthropic (its AnthropicConfig lists `response_format`) and the
 * Messages API cannot be told. Everything else Claude takes the gateway carries too (prompt-cache marks, a prefill,
 * `service_tier`, more than 4 stop sequences, signed thinking), and what Claude refuses (a stop sequence of whitespace
 * only) it refuses behind the gateway as well: the route's fields are the family's plus these.
 */
const GATEWAY_ROUTE_EXTRAS: {
  readonly [K in ProviderKind]?: { capabilities: readonly Capability[]; params: ReadonlySet<string> };
} = {
  anthropic: { capabilities: ['json'], params: new Set(['response_format']) },
};

/** The routes a provider's requests may take: `auto` either (direct first, see routeOptions). */
export function routesOf(routing: RoutingMethod): readonly Route[] {
  switch (routing) {
    case 'direct':
      return DIRECT_ONLY;
    case 'gateway':
      return GATEWAY_ONLY;
    case 'auto':
      return EITHER_ROUTE;
  }
}

const DIRECT_ONLY: readonly Route[] = ['direct'];
const GATEWAY_ONLY: readonly Route[] = ['gateway'];
const EITHER_ROUTE: readonly Route[] = ['direct', 'gateway'];

/** Whether a family's deployment honours a provider-dependent request field on a route (see GATEWAY_ROUTE_EXTRAS). */
export function routeSupportsParam(kind: ProviderKind, route: Route, param: string): boolean {
  return (
    familySupportsParam(kind, param) || (route === 'gateway' && GATEWAY_ROUTE_EXTRAS[kind]?.params.has(param) === true)
  );
}

/** The capabilities a deployment of the family may declare when its provider's routing can take the gateway. */
export function routingCapabilities(kind: ProviderKind, routing: RoutingMethod): readonly Capability[] {
  const own = PROVIDER_FAMILIES[kind].capabilities;
  const extra = routing === 'direct' ? undefined : GATEWAY_ROUTE_EXTRAS[kind]?.capabilities;
  return extra === undefined ? own : [...own, ...extra.filter((c) => !own.includes(c))];
}

export function familySupportsParam(kind: ProviderKind, param: string): boolean {
  const family = PROVIDER_FAMILIES[kind] as ProviderFamily | undefined;
  if (family === undefined || family.refuses?.has(param) === true) {
    return false;
  }
  return family.params === 'all' || family.params.has(param);
}
