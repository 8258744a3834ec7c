/** Domain types shared by every process. Plain data only: these cross Redis as JSON. */

import type { CacheFill } from './cache/cache-key';
import type { Reservation } from './governance/caller';

/** A JSON value: what tool schemas, metadata, logprobs and pass-through fields are made of. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export type Role = 'system' | 'user' | 'assistant' | 'tool';

/**
 * An Anthropic prompt-cache breakpoint (`{type: "ephemeral", ttl?: "5m" | "1h"}`), as a `/v1/messages` client marks
 * its system, tools and messages: the Anthropic family sends it where it was; every other family leaves it out.
 */
export interface CacheControl {
  type: string;
  ttl?: string;
}

/** Message content parts, in OpenAI's shape (the gateway's wire format is OpenAI's). */
export type ContentPart =
  | { type: 'text'; text: string; cache_control?: CacheControl }
  | { type: 'image_url'; image_url: { url: string; detail?: 'auto' | 'low' | 'high' }; cache_control?: CacheControl }
  | { type: 'input_audio'; input_audio: { data: string; format: string } }
  | { type: 'file'; file: { file_id?: string; file_data?: string; filename?: string }; cache_control?: CacheControl };

/** A function call the model asked for; `arguments` is JSON text as the model wrote it (possibly invalid). */
export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
  /**
   * On a call in an assistant message of the history: a prompt-cache breakpoint on its tool_use block (Anthropic
   * family only; Claude Code marks the last block of a recent assistant turn, often a tool_use).
   */
  cache_control?: CacheControl;
}

/**
 * A block of Anthropic extended thinking, as the Messages API returns it and needs it back: the reasoning text with
 * the provider's signature over it, or reasoning the provider encrypted (`redacted_thinking`). A tool-using turn with
 * thinking must send its blocks back unchanged, so they travel with the answer and in history.
 */
export type ThinkingBlock =
  { type: 'thinking'; thinking: string; signature: string } | { type: 'redacted_thinking'; data: string };

export interface ChatMessage {
  role: Role;
  content: string | ContentPart[] | null;
  name?: string;
  /** On a `tool` message: the assistant tool call this answers. */
  tool_call_id?: string;
  /** On an assistant message: the calls it made (the next turn of an agent loop refers to them). */
  tool_calls?: ToolCall[];
  /** On an assistant message: the model declined. */
  refusal?: string | null;
  /**
   * On an assistant message: its signed thinking (Anthropic's blocks; the name is LiteLLM's). Only the Anthropic
   * family takes them back; every other adapter leaves them out of the history it sends.
   */
  thinking_blocks?: ThinkingBlock[];
  /** On a `tool` message: a prompt-cache breakpoint on its tool_result (Anthropic family only). */
  cache_control?: CacheControl;
  /**
   * On a `tool` message: the call failed (Anthropic's `tool_result.is_error`). Claude gets the flag; families whose
   * tool messages have none read `Error:` before the result (`toolResultContent`).
   */
  is_error?: boolean;
}

/**
 * A tool message's content for a family without an error flag on tool results: a failed call's result is led by
 * `Error:`, so the model reads that the call failed.
 */
export function toolResultContent(m: ChatMessage): ChatMessage['content'] {
  const content = m.content;
  if (m.is_error !== true) {
    return content;
  }
  if (content === null || typeof content === 'string') {
    return `Error: ${content ?? ''}`;
  }
  return [{ type: 'text', text: 'Error:' }, ...content];
}

export interface FunctionTool {
  type: 'function';
  function: { name: string; description?: string; parameters?: JsonObject; strict?: boolean };
  /** A prompt-cache breakpoint after this tool (Anthropic family only). */
  cache_control?: CacheControl;
}

export type ToolChoice = 'none' | 'auto' | 'required' | { type: 'function'; function: { name: string } };

export type ResponseFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | {
      type: 'json_schema';
      json_schema: { name: string; description?: string; schema?: JsonObject; strict?: boolean | null };
    };

export type ReasoningEffort = 'none' | 'minimal' | 'low' | 'medium' | 'high' | 'xhigh';
export const REASONING_EFFORTS: readonly ReasoningEffort[] = ['none', 'minimal', 'low', 'medium', 'high', 'xhigh'];

/**
 * Every generation field a provider acts on. camelCase names; the OpenAI names are in the comments where
 * they differ. Absent means "provider default". An adapter that cannot honour a present field must never
 * drop it: routing keeps such requests away from it (see `requestNeedsOf`).
 */
export interface GenerationOptions {
  temperature?: number;
  /** The completion budget (`max_completion_tokens`, else `max_tokens`). */
  maxTokens?: number;
  /**
   * Set when the client sent `max_completion_tokens`: OpenAI-compatible adapters send the budget under that
   * name (reasoning models reject `max_tokens`; older servers only know `max_tokens`).
   */
  maxTokensField?: 'max_completion_tokens';
  topP?: number;
  /** Sample from the k likeliest tokens (Anthropic's and Ollama's `top_k`, Gemini's `topK`; `top_k` elsewhere). */
  topK?: number;
  stop?: string[];
  tools?: FunctionTool[];
  toolChoice?: ToolChoice;
  parallelToolCalls?: boolean;
  responseFormat?: ResponseFormat;
  seed?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  /** Token id (as a string) → bias -100..100. */
  logitBias?: Record<string, number>;
  logprobs?: boolean;
  topLogprobs?: number;
  /** End-user id for the provider's abuse monitoring (`user`). */
  user?: string;
  reasoningEffort?: ReasoningEffort;
  /**
   * Tokens the model may think with, when the client named a number (Anthropic's `thinking.budget_tokens`); set
   * only beside `reasoningEffort`, which families without budgets take instead.
   */
  reasoningBudget?: number;
  /**
   * Set by `/v1/messages`' `thinking: {type: "adaptive"}`, beside `reasoningEffort` (medium): the model decides how
   * much to think. Claude gets `thinking: {type: "adaptive"}`, Gemini its dynamic budget; the families that take only
   * an effort take `reasoningEffort`.
   */
  adaptiveThinking?: true;
  /**
   * `/v1/messages`' `thinking.display` (`summarized` or `omitted`): how Claude returns its thinking, sent to Claude
   * with the thinking it asks for. The other families return their reasoning as they give it.
   */
  thinkingDisplay?: 'summarized' | 'omitted';
  /**
   * Anthropic's `service_tier` as a `/v1/messages` client sent it (`auto`, the default, or `standard_only`): sent to
   * Claude as it is. `standard_only` (no priority capacity) only Claude can be told, so only Claude deployments are
   * candidates for it (see STANDARD_TIER_PARAM); `auto` asks for each provider's default, which every family serves.
   */
  anthropicServiceTier?: 'auto' | 'standard_only';
  /**
   * OpenAI's tags for filtering stored completions: sent to the OpenAI family, left out for the others (like `user`,
   * it changes no answer; see request-needs).
   */
  metadata?: Record<string, string>;
  /**
   * Anthropic beta features the client asked for (`/v1/messages`' `anthropic-beta` header): sent to Claude in that
   * header; other families have no use for Anthropic's API flags and ignore them.
   */
  anthropicBeta?: string[];
  /**
   * Set by `/v1/messages` when its last message is an assistant turn with text: a prefill, which the model is to
   * continue (Anthropic's semantics; the answer holds only the continuation). Only the families that continue a
   * final assistant message are candidates (see ASSISTANT_PREFILL_PARAM). `/v1/chat/completions` never sets it: a
   * trailing assistant message there is OpenAI's wire format, sent to every family as it came.
   */
  assistantPrefill?: true;
  /**
   * Top-level request fields the gateway does not model, as the client sent them: forwarded unchanged to
   * OpenAI-compatible providers; a provider family that cannot take them is not a candidate.
   */
  extra?: JsonObject;
}

export type RoutingPolicy = 'preference' | 'cost' | 'latency' | 'quality' | 'round-robin';
export const ROUTING_POLICIES: readonly RoutingPolicy[] = ['preference', 'cost', 'latency', 'quality', 'round-robin'];

/** What the gateway hands to a worker. Never holds secrets. */
export interface GenerationRequest {
  requestId: string;
  /**
   * The client's own `x-request-id`, when it sent one: it never becomes a job or request id (another client may send
   * the same), but the worker's log lines name it, so an error the client reports under it can be found.
   */
  clientRequestId?: string;
  /** As the client asked: `model`, `provider/model` or an alias. */
  model: string;
  messages: ChatMessage[];
  options: GenerationOptions;
  stream: boolean;
  /** Preference context (native API), e.g. "coding". */
  context?: string;
  policy?: RoutingPolicy;
  /** Allow fallback to other deployments even when the model is pinned as `provider/model`. */
  allowFallback?: boolean;
  userId: string;
  apiKeyId: string;
  /** Epoch ms after which nobody waits for the answer any more. */
  deadlineAt: number;
  /** Epoch ms the gateway accepted the request (for end-to-end latency). */
  receivedAt: number;
  /**
   * The API key's allow-list (model names, `provider/model`, `provider/*`): only deployments it names are
   * candidates, aliases included. Absent: the key may use every model.
   */
  allowedModels?: string[];
  /**
   * Set on an embeddings request (`POST /v1/embeddings`): `messages` is then empty, only deployments with the
   * `embeddings` capability are candidates, and the answer carries `embeddings` instead of text.
   */
  embeddings?: EmbeddingsInput;
  /** Rate-limit tokens and spend reserved at admission; the worker settles it to the real usage. */
  reservation?: Reservation;
  /** Set when the answer may be stored in the response cache: the worker stores a successful one there. */
  cache?: CacheFill;
}

/** What to embed. Routed, retried and billed like a generation (prompt tokens only). */
export interface EmbeddingsInput {
  /** One vector per item: texts, or token-id arrays (a single string or token array arrives as a list of one). */
  input: string[] | number[][];
  /** Output dimensions, for models that can shorten their vectors. */
  dimensions?: number;
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  /** Prompt tokens the provider served from its prompt cache (billed at the cached rate where one is configured). */
  cachedPromptTokens: number;
  /** Prompt tokens written to the provider's prompt cache (Anthropic bills them at their own rate). */
  cacheWritePromptTokens?: number;
  /**
   * Of `cacheWritePromptTokens`, those written to a cache that lives an hour (Anthropic's `cache_control` with `ttl:
   * "1h"`, `cache_creation.ephemeral_1h_input_tokens`): Anthropic bills them at twice the input price, not the
   * 5-minute write price (1.25x). Absent: none, or a provider that does not say.
   */
  cacheWrite1hPromptTokens?: number;
  /** Completion tokens spent on hidden reasoning (part of `completionTokens`). */
  reasoningTokens?: number;
  /**
   * OpenAI's Predicted Outputs (`prediction`): of the prediction's tokens, those that appeared in the completion and
   * those that did not (both part of `completionTokens`, billed as completion tokens). Absent: none reported.
   */
  acceptedPredictionTokens?: number;
  rejectedPredictionTokens?: number;
  /** Of `promptTokens`, those of the request's audio parts (`input_audio`), where the provider says. */
  audioPromptTokens?: number;
  /**
   * What the provider said the call cost, in USD, where its answer says so (OpenRouter's `usage.cost`: its credits are
   * dollars). Billed instead of the catalog's price only where `reportedCostOf` trusts it.
   */
  reportedCostUsd?: number;
}

export const EMPTY_USAGE: Readonly<Usage> = Object.freeze({
  promptTokens: 0,
  completionTokens: 0,
  totalTokens: 0,
  cachedPromptTokens: 0,
});

export type Route = 'direct' | 'gateway';

/** One call (with its retries) to one deployment. */
export interface Attempt {
  provider: string;
  model: string;
  route: Route;
  ok: boolean;
  /** Present when ok is false. */
  errorClass?: string;
  status?: number;
  /**
   * The provider said it is overloaded (Anthropic's `overloaded_error`, Gemini's `UNAVAILABLE`), as a 529 or as an
   * event of a stream that had not reached the client yet (with no status then). Set only when true.
   */
  overloaded?: true;
  message?: string;
  latencyMs: number;
  retries: number;
}

/** What an answer may carry besides its text; each field only when the provider gave it. */
export interface AnswerDetails {
  /** The calls the model asked for (finish reason `tool_calls`). */
  toolCalls?: ToolCall[];
  refusal?: string;
  /** Hidden reasoning the provider returned (`reasoning_content`, Anthropic thinking). */
  reasoning?: string;
  /** The reasoning as signed blocks, when the provider signs it (Anthropic): what a client sends back in history. */
  thinkingBlocks?: ThinkingBlock[];
  /** The provider's `choices[0].logprobs`, as it sent them. */
  logprobs?: JsonValue;
  systemFingerprint?: string;
  /** The stop sequence that ended the answer, when the provider names it (Anthropic's `stop_sequence`). */
  stopSequence?: string;
  /**
   * An Anthropic provider's `stop_reason`, as it gave it: what `/v1/messages` answers. The finish reason says it in
   * OpenAI's words, which have none for `pause_turn` (a server-tool turn the client is to send back to continue) or
   * `model_context_window_exceeded`.
   */
  anthropicStopReason?: string;
  /** An embeddings request's vectors, in input order (floats; the gateway encodes base64 when asked). */
  embeddings?: number[][];
  /** Perplexity's top-level `citations`: the URLs of the sources the answer's `[1]`, `[2]` markers number. */
  citations?: string[];
  /** Perplexity's top-level `search_results` (`{title, url, date, ...}` each), as it sent them. */
  searchResults?: JsonValue[];
  /** OpenAI's top-level `service_tier`: the tier that served the request (`default`, `flex`, `priority`, ...). */
  serviceTier?: string;
  /** The message's `annotations` (OpenAI's search models: `{type: "url_citation", url_citation: {...}}`), as sent. */
  annotations?: JsonValue[];
}

/**
 * Whether `logprobs` (a provider's `choices[0].logprobs`, or a delta's) hold any token's: OpenAI's `{content, refusal}`
 * with entries in either. `{"content": []}` or `{"content": null}`, which some servers repeat on keep-alive chunks,
 * hold none; a shape of another kind counts as some (it is relayed as it came).
 */
export function hasLogprobEntries(logprobs: JsonValue | undefined): boolean {
  if (logprobs === undefined || logprobs === null) {
    return false;
  }
  if (typeof logprobs !== 'object' || Array.isArray(logprobs)) {
    return true;
  }
  const { content, refusal } = logprobs;
  return (Array.isArray(content) && content.length > 0) || (Array.isArray(refusal) && refusal.length > 0);
}

/**
 * How a log line names a request: its id, after the client's own `x-request-id` when it sent one (which never is the
 * request id, see `clientRequestId`), so that a line is found under either. The client's id is `[A-Za-z0-9._-]`.
 */
export function requestLabel(request: Pick<GenerationRequest, 'requestId' | 'clientRequestId'>): string {
  const { requestId, clientRequestId } = request;
  return clientRequestId === undefined ? requestId : `${clientRequestId} (request id ${requestId})`;
}

export interface GenerationResult extends AnswerDetails {
  requestId: string;
  /** Completion id (provider's when it gave one). */
  id: string;
  created: number;
  text: string;
  /** `stop`, `length`, `tool_calls`, `content_filter` (or a provider's own value). */
  finishReason: string | null;
  provider: string;
  model: string;
  route: Route;
  usage: Usage;
  costUsd: number;
  /** Gateway receipt to result, ms. */
  latencyMs: number;
  /** Time spent waiting on the provider for the successful attempt, ms. */
  providerLatencyMs: number;
  attempts: Attempt[];
  /**
   * Failed calls before the answer that their provider charged for (see `Charge`): billed with the request, beside
   * `usage` and `costUsd`, which are the answer's own. Set only when there are some; never sent to clients.
   */
  charged?: import('./errors').Charge[];
  /** Set on an answer served from the response cache (no provider was called for it). */
  cached?: boolean;
}

/** A piece of a streamed tool call: the first piece of a call has its id and name, later ones argument text. */
export interface ToolCallDelta {
  /** Position of the call in the answer's tool_calls. */
  index: number;
  id?: string;
  name?: string;
  arguments?: string;
}

/** One streamed piece of an answer as adapters yield it. */
export interface StreamDelta {
  text: string;
  toolCalls?: ToolCallDelta[];
  reasoning?: string;
  /** Ends the thinking block whose text came as `reasoning` (since the last one ended) with its signature. */
  reasoningSignature?: string;
  /** A whole `redacted_thinking` block: reasoning the provider sends encrypted. */
  redactedReasoning?: string;
  refusal?: string;
  systemFingerprint?: string;
  finishReason?: string | null;
  /** With the finish reason: the stop sequence that ended the answer, when the provider names it. */
  stopSequence?: string;
  /** With the finish reason: an Anthropic provider's own stop reason (`AnswerDetails.anthropicStopReason`). */
  anthropicStopReason?: string;
  /** The provider's `choices[0].logprobs` of this delta (OpenAI-compatible streams with `logprobs: true`). */
  logprobs?: JsonValue;
  /** Providers send usage in the last chunk(s); adapters surface it when seen. */
  usage?: Usage;
  /** Provider's completion id when first seen. */
  id?: string;
  /** Provider's creation time (epoch seconds) of the completion, with its id, when the provider sends one. */
  created?: number;
  /**
   * The answer's sources (see `AnswerDetails`), on the delta of the chunk that first carried them: `citations` and
   * `searchResults` again only when the provider's lists changed (a later delta's replace the earlier), `annotations`
   * as each chunk adds them; `serviceTier` once, with the first delta, as `systemFingerprint`.
   */
  citations?: string[];
  searchResults?: JsonValue[];
  annotations?: JsonValue[];
  serviceTier?: string;
}
