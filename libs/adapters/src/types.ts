import type {
  AnswerDetails,
  ChatMessage,
  GenerationOptions,
  JsonObject,
  ProviderCallError,
  ProviderKind,
  StreamDelta,
  Usage,
} from '@aigw/core';
import type { ResponseHeaders } from './http/headers';
import type { CallerSignal } from './http/caller-signal';

/**
 * Told the status and headers of each response of a call the moment they arrive, before the body is read (errors
 * and streams included). It runs on the request path: it must be cheap, and it must not throw.
 */
export type ResponseObserver = (status: number, headers: ResponseHeaders) => void;

/** Where and how to call one upstream. Built by the router per deployment; holds the secret, so never log it. */
export interface AdapterTarget {
  /** OpenAI family: includes `/v1` (`http://host:port/v1`). Anthropic: the origin (`https://api.anthropic.com`). */
  baseUrl: string;
  apiKey?: string;
  /** Model name sent upstream. */
  model: string;
  /**
   * Non-streaming calls: the whole call must finish within this. Streaming calls: the response headers and then
   * every further chunk must each arrive within this (an idle timeout), so a long answer that keeps flowing is not
   * cut off; the caller's signal bounds the stream as a whole.
   */
  timeoutMs: number;
  /** Provider or gateway id: one connection pool per poolKey + origin. */
  poolKey: string;
  /** Connection limit of the pool; only the first target seen for a pool decides it. */
  maxConnections?: number;
  /**
   * The deployment's context window in tokens (catalog `contextWindow`), which routing sized the request by. Ollama
   * is told it (`options.num_ctx`): without it, it loads the model with its own default window (2048 or 4096
   * tokens) and silently drops the start of a longer prompt.
   */
  contextWindow?: number;
  /**
   * Set when an OpenAI-compatible gateway (LiteLLM) fronts a Claude deployment: assistant turns keep their signed
   * `thinking_blocks` (LiteLLM's field for them), which the gateway passes back to Claude. Other OpenAI-wire servers
   * refuse message fields they do not know, so they never get them.
   */
  signedThinking?: true;
  /**
   * Set, as `signedThinking`, when an OpenAI-compatible gateway (LiteLLM) fronts a Claude deployment: Anthropic's
   * prompt-cache marks (`cache_control` on messages, content parts and tools) are sent as they came, and LiteLLM
   * passes them on to Claude (docs.litellm.ai, Prompt Caching). Other OpenAI-wire servers get none.
   */
  cacheMarks?: true;
  /**
   * Set, as `signedThinking`, when an OpenAI-compatible gateway (LiteLLM) fronts a Claude deployment: what a client
   * asks of Claude goes in the fields LiteLLM takes for it on `/chat/completions` (docs.litellm.ai): `/v1/messages`'
   * extended thinking as Anthropic's own `thinking` object (its budget, or adaptive, and its `display`), a prefill
   * marked `prefix: true` (Pre-fix Assistant Messages), and the `anthropic-beta` header, which LiteLLM passes on where
   * the operator lets it forward client headers (`forward_client_headers_to_llm_api`). `temperature` and `top_p` go as
   * Claude takes them, since LiteLLM passes both on and Claude Opus 4.1, the 4.5 generation and later refuse both
   * together (`takesOneSamplingField`; a value that changes nothing is left out, both meaningful refused before
   * sending). Extended thinking's limits are checked before sending as the Anthropic adapter checks them
   * (`thinkingChecked`), LiteLLM passing a request Claude refuses on as it came. Other OpenAI-wire servers get none of
   * this: OpenAI refuses fields it does not know.
   */
  claudeOptions?: true;
  /**
   * The most inputs one embeddings request to this deployment may carry (its provider's `maxEmbeddingInputs`, or the
   * default for its family: `embeddingInputsLimit` in core). A longer input list is sent as consecutive requests of at
   * most this many, their vectors joined in input order (`embedInBatches`). Absent: the API's own limit only.
   */
  maxEmbeddingInputs?: number;
  /** A health endpoint on the baseUrl's origin (llama.cpp, vLLM: `/health`) the health check reads instead of models. */
  healthPath?: string;
  /** Sees every response's status and headers (the router reads providers' rate limits from them). */
  observe?: ResponseObserver;
  /**
   * Called when a request of the call is written to the provider (HttpPool: a connection of its pool was had), once
   * per request the call sends. Time before it was spent on our side (waiting for one of `maxConnections`), not at
   * the provider: the router starts a call's "no answer" clock here (`hungUntilDeadline`). Must not throw.
   */
  sent?: () => void;
}

export interface AdapterRequest {
  target: AdapterTarget;
  messages: ChatMessage[];
  options: GenerationOptions;
}

/** What the provider said about its remaining budget. Reset values are ms from when the response arrived. */
export interface RateLimitInfo {
  remainingRequests?: number;
  remainingTokens?: number;
  resetRequestsMs?: number;
  resetTokensMs?: number;
}

export interface AdapterResponse extends AnswerDetails {
  id: string;
  /** Epoch seconds. */
  created: number;
  text: string;
  finishReason: string | null;
  usage: Usage;
  rateLimit?: RateLimitInfo;
}

/** An embeddings call: one vector per input item. */
export interface EmbeddingsAdapterRequest {
  target: AdapterTarget;
  input: string[] | number[][];
  dimensions?: number;
  /** End-user id for the provider's abuse monitoring. */
  user?: string;
  /** The client's fields the gateway does not model (`input_type`, ...), passed through as they came. */
  extra?: JsonObject;
}

export interface EmbeddingsResponse {
  /** In input order, as floats. */
  embeddings: number[][];
  usage: Usage;
  rateLimit?: RateLimitInfo;
}

export interface HealthResult {
  ok: boolean;
  latencyMs: number;
  status?: number;
  message?: string;
  /** The model ids seen, when the check was a model list. */
  models?: string[];
  /** The classified failure (its message is secret-free), for diagnosis; set only when `ok` is false. */
  error?: ProviderCallError;
}

/**
 * One wire format. Every method rejects (or, for `stream`, throws while iterated) only with ProviderCallError.
 * `signal` is the caller's: aborting it cancels the upstream request and surfaces as ErrorClass.Cancelled. Each call
 * holds one listener on it while running; a signal shared by many concurrent calls needs `events.setMaxListeners`.
 */
export interface ProviderAdapter {
  readonly kind: ProviderKind;
  generate(req: AdapterRequest, signal: CallerSignal): Promise<AdapterResponse>;
  /**
   * Deltas in order. The id appears on the first delta, the finish reason and usage on the last ones; when a
   * provider repeats usage, the last one seen is the total. Stopping iteration early cancels the upstream request.
   */
  stream(req: AdapterRequest, signal: CallerSignal): AsyncIterable<StreamDelta>;
  /**
   * Families that serve embeddings implement this (see `embedsWith` in core: routing sends embeddings requests only
   * to those); the others leave it out.
   */
  embed?(req: EmbeddingsAdapterRequest, signal: CallerSignal): Promise<EmbeddingsResponse>;
  listModels(target: AdapterTarget, signal: CallerSignal): Promise<string[]>;
  /** Never rejects: failures are reported in the result. */
  healthCheck(target: AdapterTarget, signal: CallerSignal): Promise<HealthResult>;
  classifyError(err: unknown, signal?: CallerSignal): ProviderCallError;
}
