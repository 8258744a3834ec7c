import { isDeepStrictEqual } from 'node:util';
import {
  ErrorClass,
  oneSamplingFieldOf,
  ProviderCallError,
  takesOneSamplingField,
  type AnswerDetails,
  type ChatMessage,
  type ContentPart,
  type FunctionTool,
  type GenerationOptions,
  type JsonObject,
  type JsonValue,
  type StreamDelta,
  type ThinkingBlock,
  type ToolCall,
  type ToolCallDelta,
  type Usage,
  dataUrlOf,
  hasLogprobEntries,
  plainTextOf,
  merged,
  toolResultContent,
} from '@aigw/core';
import { isSigned, thinkingChecked } from '../anthropic/claude-limits';
import type { StreamDecoder } from '../http/calls';
import { errorFinish, isErrorFinish, openAiFinishReason } from '../content/finish-reason';
import { newToolCallId, rewrittenToolCallId } from '../content/tool-call-id';
import { classifyInBandError, classifyTgiValidation } from '../errors/classify';
import { errorDetailOf, safeMessage } from '../errors/provider-message';
import { hasSignature, idWithSignature, idWithoutSignature, signatureOfId } from '../gemini/thought-signature';
import type { SseEvent } from '../sse/sse-parser';
import type { AdapterRequest, AdapterResponse } from '../types';

/** Wire shapes we read; every field is optional because compatible servers differ. */
interface WireUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
  /**
   * `cached_tokens`: prompt cache reads, part of `prompt_tokens`. Writes, for Anthropic models behind a gateway:
   * OpenRouter's `cache_write_tokens`, LiteLLM's `cache_creation_tokens` (newer releases).
   */
  prompt_tokens_details?: {
    cached_tokens?: number;
    cache_write_tokens?: number;
    cache_creation_tokens?: number;
    audio_tokens?: number;
  } | null;
  completion_tokens_details?: {
    reasoning_tokens?: number;
    accepted_prediction_tokens?: number;
    rejected_prediction_tokens?: number;
  } | null;
  /** DeepSeek reports its prompt cache this way. */
  prompt_cache_hit_tokens?: number;
  /** LiteLLM: Anthropic's count of prompt tokens written to its cache, in every release. */
  cache_creation_input_tokens?: number;
  /** OpenRouter: what the call was charged, in credits (US dollars); for a BYOK call, OpenRouter's fee only. */
  cost?: unknown;
  /** OpenRouter: the call used the account's own provider key (BYOK). */
  is_byok?: unknown;
  /** OpenRouter: what the upstream provider charged (for a BYOK call, to the key's own account). */
  cost_details?: { upstream_inference_cost?: unknown } | null;
}

interface WireToolCall {
  index?: number;
  id?: string;
  type?: string;
  /** `arguments` is JSON text; some servers (TGI's `/v1`, llama.cpp's server in some versions) give the object. */
  function?: { name?: string; arguments?: unknown } | null;
  /** Google's OpenAI-compatible endpoint: a Gemini thinking model's signature of the call, wanted back with it. */
  extra_content?: { google?: { thought_signature?: unknown } | null } | null;
}

interface WireMessage {
  /**
   * Text; Mistral's reasoning models give a list of chunks (`contentOfChunks`), streamed too while they think (then
   * plain text).
   */
  content?: string | unknown[] | null;
  refusal?: string | null;
  tool_calls?: WireToolCall[] | null;
  /** DeepSeek, vLLM and others stream hidden reasoning here; some servers call it `reasoning`. */
  reasoning_content?: string | null;
  reasoning?: string | null;
  /**
   * LiteLLM in front of Claude: Claude's thinking blocks with their signatures (streamed: a `signature` alone ends the
   * block whose text came as `reasoning_content`), which Claude needs back in a tool loop with thinking on.
   */
  thinking_blocks?: unknown;
  /** OpenAI's search models: `url_citation` annotations of the text (streamed on a delta of their own). */
  annotations?: unknown;
}

interface WireChoice {
  message?: WireMessage | null;
  delta?: WireMessage | null;
  finish_reason?: string | null;
  logprobs?: JsonValue;
  /** vLLM: the stop string (or token id) that ended the answer; null at the end of sequence. */
  stop_reason?: unknown;
  /** SGLang's name for it. */
  matched_stop?: unknown;
}

interface WireCompletion {
  /** `chat.completion.chunk`, or `error` for an error in the shape of vLLM's `ErrorResponse` (`message`, `code`). */
  object?: string;
  message?: unknown;
  id?: string;
  created?: number;
  choices?: WireChoice[];
  usage?: WireUsage | null;
  system_fingerprint?: string | null;
  /** OpenAI: the tier that served the request, on the answer and on every chunk. */
  service_tier?: string | null;
  /** Perplexity: the answer's source URLs, and its search results, on the answer and on stream chunks. */
  citations?: unknown;
  search_results?: unknown;
  error?: unknown;
  /** TGI's, beside an `error` text: `validation`, `generation`, `overloaded` (`classifyTgiValidation`). */
  error_type?: unknown;
  /**
   * Groq: its request id, and on a stream's finishing chunk the usage (with timings) where no `usage` chunk comes (a
   * request Groq did not take `stream_options` of).
   */
  x_groq?: { usage?: WireUsage | null } | null;
}

function hasMedia(m: ChatMessage): boolean {
  return m.role === 'tool' && Array.isArray(m.content) && m.content.some((p) => p.type !== 'text');
}

function marked(p: ContentPart): boolean {
  return 'cache_control' in p && p.cache_control !== undefined;
}

/** A plain-text file part (`file_data` a `text/plain` data URL, as a /v1/messages text document becomes). */
function isPlainTextFile(p: ContentPart): boolean {
  return p.type === 'file' && p.file.file_data !== undefined && dataUrlOf(p.file.file_data)?.mimeType === 'text/plain';
}

function hasPlainTextFile(m: ChatMessage): boolean {
  return Array.isArray(m.content) && m.content.some(isPlainTextFile);
}

/**
 * A plain-text file as a text part, after its name when it has one: OpenAI and the compatible servers take only
 * PDFs as file parts (a text one is their 400, which ends fallback), and the text is what the model reads anyway.
 * The message itself when it has none.
 */
function withPlainTextFilesAsText(m: ChatMessage): ChatMessage {
  if (!Array.isArray(m.content)) {
    return m;
  }
  let changed = false;
  const content = m.content.map((p): ContentPart => {
    const text = p.type === 'file' && p.file.file_data !== undefined ? plainTextOf(p.file.file_data) : undefined;
    if (text === undefined || p.type !== 'file') {
      return p;
    }
    changed = true;
    const name = p.file.filename;
    return { type: 'text', text: name === undefined || name === '' ? text : `${name}:\n\n${text}` };
  });
  return changed ? Object.assign({}, m, { content }) : m;
}

/** What of Claude's own a gateway in front of Claude (LiteLLM) carries to it: see AdapterTarget. */
interface ClaudeFields {
  signedThinking: boolean;
  cacheMarks: boolean;
}

/**
 * Fields of ours OpenAI does not take: Claude's signed thinking, Anthropic prompt-cache marks (both kept for a gateway
 * in front of Claude), a tool error flag.
 */
function hasForeignFields(m: ChatMessage, claude: ClaudeFields): boolean {
  return (
    (m.thinking_blocks !== undefined && (!claude.signedThinking || m.thinking_blocks.some((b) => !isSigned(b)))) ||
    (!claude.cacheMarks &&
      (m.cache_control !== undefined ||
        (Array.isArray(m.content) && m.content.some(marked)) ||
        (m.tool_calls?.some((c) => c.cache_control !== undefined) ?? false))) ||
    m.is_error !== undefined
  );
}

function withoutMark(p: ContentPart): ContentPart {
  if (!marked(p) || p.type === 'input_audio') {
    return p;
  }
  const copy = Object.assign({}, p);
  delete copy.cache_control;
  return copy;
}

function withoutForeignFields(m: ChatMessage, claude: ClaudeFields): ChatMessage {
  const copy = Object.assign({}, m);
  copy.content = toolResultContent(m);
  const signed = claude.signedThinking ? (m.thinking_blocks ?? []).filter(isSigned) : [];
  if (signed.length > 0) {
    copy.thinking_blocks = signed;
  } else {
    delete copy.thinking_blocks;
  }
  delete copy.is_error;
  if (!claude.cacheMarks) {
    delete copy.cache_control;
    if (Array.isArray(copy.content)) {
      copy.content = copy.content.map(withoutMark);
    }
    if (copy.tool_calls?.some((c) => c.cache_control !== undefined) === true) {
      copy.tool_calls = copy.tool_calls.map((c) => ({ id: c.id, type: c.type, function: c.function }));
    }
  }
  return copy;
}

/** OpenAI refuses a tool call id over 40 characters in the history (`string_above_max_length`). */
const OPENAI_TOOL_ID_MAX = 40;

function foreignId(id: string | undefined): boolean {
  return id !== undefined && (id.length > OPENAI_TOOL_ID_MAX || hasSignature(id));
}

/** Tool call ids another family gave (Gemini's signed ones, long ones) that the OpenAI family would refuse. */
function hasForeignIds(m: ChatMessage): boolean {
  return foreignId(m.tool_call_id) || (m.tool_calls?.some((c) => foreignId(c.id)) ?? false);
}

/**
 * A tool call id as the OpenAI family takes it: without a Gemini thought signature riding in it
 * (gemini/thought-signature.ts; Google's OpenAI-compatible endpoint gets it in its own field), and at most 40
 * characters: a longer one keeps its head and a hash of the whole id, so two ids never become one. A call and the
 * tool message answering it get the same id.
 */
function openAiToolId(id: string): string {
  const bare = idWithoutSignature(id);
  if (bare.length <= OPENAI_TOOL_ID_MAX) {
    return bare;
  }
  return rewrittenToolCallId(bare, bare, OPENAI_TOOL_ID_MAX);
}

/** Each base URL's host name, remembered: a provider's URL is parsed once ('' when it does not parse). */
const hostnames = new Map<string, string>();

function hostnameOf(baseUrl: string): string {
  let host = hostnames.get(baseUrl);
  if (host === undefined) {
    try {
      host = new URL(baseUrl).hostname;
    } catch {
      host = '';
    }
    if (hostnames.size < 1024) {
      hostnames.set(baseUrl, host);
    }
  }
  return host;
}

/** Google's OpenAI-compatible endpoint (generativelanguage or Vertex AI): thought signatures go back to it. */
function isGoogleEndpoint(baseUrl: string): boolean {
  return hostnameOf(baseUrl).endsWith('.googleapis.com');
}

/**
 * Whether the server ends an answer that made tool calls with `finish_reason: "stop"`: Google's OpenAI-compatible
 * endpoint does (LiteLLM and others correct it), while every other family's answers, and OpenAI's, say `tool_calls`,
 * which agent loops wait for. Such answers are read as `tool_calls`.
 */
export function saysStopForToolCalls(baseUrl: string): boolean {
  return isGoogleEndpoint(baseUrl);
}

/** OpenAI's own API. */
function isOpenAiApi(baseUrl: string): boolean {
  return hostnameOf(baseUrl) === 'api.openai.com';
}

function withPortableIds(m: ChatMessage, google: boolean): ChatMessage {
  const copy = Object.assign({}, m);
  if (copy.tool_call_id !== undefined) {
    copy.tool_call_id = openAiToolId(copy.tool_call_id);
  }
  if (copy.tool_calls !== undefined) {
    copy.tool_calls = copy.tool_calls.map((c) => {
      const signature = google ? signatureOfId(c.id) : undefined;
      const call: ToolCall & Pick<WireToolCall, 'extra_content'> = Object.assign({}, c, { id: openAiToolId(c.id) });
      if (signature !== undefined) {
        call.extra_content = { google: { thought_signature: signature } };
      }
      return call;
    });
  }
  return copy;
}

/**
 * The history as the OpenAI family takes it. Plain-text files go as text (`withPlainTextFilesAsText`). Signed thinking
 * (`thinking_blocks`) goes back to Anthropic only (through a gateway in front of Claude: `signedThinking`), as do
 * prompt-cache marks (`cache_control`, `cacheMarks`): OpenAI refuses message fields it does not know. A tool message takes text
 * parts only, so the images and files of tool results (a screenshot tool's) follow the run of tool messages as one
 * user message, as OpenAI's guides do it. Tool call ids other families gave are made ones OpenAI takes
 * (`openAiToolId`). The history is copied only when a message needs any of it.
 */
function historyOf(messages: ChatMessage[], baseUrl: string, claude: ClaudeFields): ChatMessage[] {
  if (!messages.some((m) => hasForeignFields(m, claude) || hasMedia(m) || hasForeignIds(m) || hasPlainTextFile(m))) {
    return messages;
  }
  const google = isGoogleEndpoint(baseUrl);
  const out: ChatMessage[] = [];
  let media: ContentPart[] = [];
  for (const given of messages) {
    const original = withPlainTextFilesAsText(given);
    const unmarked = hasForeignFields(original, claude) ? withoutForeignFields(original, claude) : original;
    const m = hasForeignIds(unmarked) ? withPortableIds(unmarked, google) : unmarked;
    if (m.role !== 'tool' && media.length > 0) {
      out.push({ role: 'user', content: media });
      media = [];
    }
    if (hasMedia(m) && Array.isArray(m.content)) {
      const texts = m.content.filter((p) => p.type === 'text');
      media.push(...m.content.filter((p) => p.type !== 'text'));
      out.push(Object.assign({}, m, { content: texts.length > 0 ? texts : '' }));
    } else {
      out.push(m);
    }
  }
  if (media.length > 0) {
    out.push({ role: 'user', content: media });
  }
  return out;
}

/**
 * Tools as OpenAI takes them: without Anthropic prompt-cache marks (copied only when one has one), which only a
 * gateway in front of Claude gets (`cacheMarks`).
 */
function toolsOf(tools: FunctionTool[] | undefined, cacheMarks: boolean): FunctionTool[] | undefined {
  if (tools === undefined || cacheMarks || !tools.some((t) => t.cache_control !== undefined)) {
    return tools;
  }
  return tools.map((t) => ({ type: t.type, function: t.function }));
}

/**
 * The name the completion budget goes under. The client's own name when it used `max_completion_tokens`. OpenAI's
 * API gets `max_completion_tokens` always: `max_tokens` is deprecated there and its reasoning models (o1, o3, gpt-5)
 * refuse it, while every chat model takes the new name, so a budget the client gave as `max_tokens` (or as
 * `/v1/messages`' `max_tokens`, native `maxTokens`, or the cap a spend limit sets) reaches them too. Other
 * OpenAI-compatible servers (vLLM, Ollama, DeepSeek, proxies) get `max_tokens`, the name they all know.
 */
function budgetFieldOf(req: AdapterRequest): 'max_tokens' | 'max_completion_tokens' {
  const o = req.options;
  if (o.maxTokensField !== undefined) {
    return o.maxTokensField;
  }
  return o.maxTokens !== undefined && isOpenAiApi(req.target.baseUrl) ? 'max_completion_tokens' : 'max_tokens';
}

/**
 * OpenAI's `metadata` tags a stored completion, and OpenAI's own API refuses it without `store: true` ("The 'metadata'
 * parameter is only allowed when 'store' is enabled"), which clients sending it on every request (session and prompt
 * ids) leave out: there it goes only with `store: true`, and is otherwise left out, as on the families that have no
 * such field (it changes no answer). Other OpenAI-compatible servers get it as sent (LiteLLM reads its tags from it).
 * A host-name lookup, only when the request has metadata.
 */
function metadataOf(req: AdapterRequest): GenerationOptions['metadata'] {
  const o = req.options;
  if (o.metadata === undefined || o.extra?.store === true || !isOpenAiApi(req.target.baseUrl)) {
    return o.metadata;
  }
  return undefined;
}

/** Anthropic's `thinking` request object, as `/v1/messages` takes it and LiteLLM passes it on to Claude. */
type ClaudeThinking = ({ type: 'enabled'; budget_tokens: number } | { type: 'adaptive' }) & {
  display?: 'summarized' | 'omitted';
};

/**
 * `/v1/messages`' extended thinking for a gateway in front of Claude (`claudeOptions`), in Anthropic's own shape, which
 * LiteLLM takes on `/chat/completions` and passes on as it is (docs.litellm.ai, "Pass `thinking` to Anthropic
 * models"): the budget the client named, or adaptive thinking, with the `display` it named. An effort alone (the
 * OpenAI endpoint's `reasoning_effort`) has none: it goes as `reasoning_effort`, which LiteLLM maps for Claude. No
 * thinking when none is asked for (`none` wins, as on Claude's own API).
 */
function claudeThinkingOf(o: GenerationOptions): ClaudeThinking | undefined {
  if (o.reasoningEffort === undefined || o.reasoningEffort === 'none') {
    return undefined;
  }
  let thinking: ClaudeThinking;
  if (o.adaptiveThinking === true) {
    thinking = { type: 'adaptive' };
  } else if (o.reasoningBudget !== undefined) {
    thinking = { type: 'enabled', budget_tokens: o.reasoningBudget };
  } else {
    return undefined;
  }
  if (o.thinkingDisplay !== undefined) {
    thinking.display = o.thinkingDisplay;
  }
  return thinking;
}

/**
 * A prefill (`assistantPrefill`: the last assistant turn, for the model to continue) marked as LiteLLM takes one,
 * `prefix: true` on that message (docs.litellm.ai, Pre-fix Assistant Messages, Anthropic among the providers). The
 * history is copied, never changed: the request may go on to another deployment.
 */
function withPrefillMarked(messages: ChatMessage[]): ChatMessage[] {
  const last = messages.at(-1);
  if (last?.role !== 'assistant') {
    return messages;
  }
  const out = messages.slice(0, -1);
  out.push(Object.assign({}, last, { prefix: true }));
  return out;
}

/**
 * `temperature` and `top_p` as sent: as they came, except to a gateway in front of a Claude model that takes only one
 * of them (`claudeOptions`, `takesOneSamplingField`), which gets the one that changes the sampling
 * (`oneSamplingFieldOf`) and never both meaningful: Claude would refuse them (routing keeps such a request away from
 * these models; this is the backstop). The model id is read only when both are set.
 */
function samplingOf(req: AdapterRequest): Pick<GenerationOptions, 'temperature' | 'topP'> {
  const o = req.options;
  if (
    req.target.claudeOptions !== true ||
    o.temperature === undefined ||
    o.topP === undefined ||
    !takesOneSamplingField(req.target.model)
  ) {
    // The options themselves: no object of its own for every request.
    return o;
  }
  const one = oneSamplingFieldOf(o.temperature, o.topP);
  if (one.temperature !== undefined && one.topP !== undefined) {
    throw new ProviderCallError(
      ErrorClass.InvalidRequest,
      `Claude does not accept 'temperature' together with 'top_p' for ${req.target.model} (it takes one or the other)`,
      { untranslatable: true, param: 'top_p' },
    );
  }
  return one;
}

/**
 * Request body for `/chat/completions`. Our ChatMessage already is the OpenAI message shape: passed as is.
 * Pass-through fields go first so that a modelled field always wins over one of the same name. A gateway in front of
 * Claude (`claudeOptions`) also gets what the client asked of Claude: its thinking as Anthropic's `thinking`, instead
 * of the effort other families take (LiteLLM would turn an effort beside it into a budget of its own), and a prefill
 * marked; other servers never do, as OpenAI refuses fields it does not know.
 */
export function openAiBody(req: AdapterRequest, stream: boolean): string {
  const claude = req.target.claudeOptions === true;
  // LiteLLM passes what it is sent on to Claude, extended thinking's limits unchecked: checked here as the Anthropic
  // adapter checks them (claude-limits.ts), so a request Claude would refuse is refused before sending, the same
  // answer on either route (routing moves on to another deployment), and an effort alone on a tool loop sent back
  // without its thinking goes without thinking, as it does to Claude's own API.
  const o = claude ? thinkingChecked(req.messages, req.options) : req.options;
  const budgetField = budgetFieldOf(req);
  const thinking = claude ? claudeThinkingOf(o) : undefined;
  const sampling = samplingOf(req);
  const history = historyOf(req.messages, req.target.baseUrl, {
    signedThinking: req.target.signedThinking === true,
    cacheMarks: req.target.cacheMarks === true,
  });
  const body = {
    model: req.target.model,
    messages: claude && o.assistantPrefill === true ? withPrefillMarked(history) : history,
    temperature: sampling.temperature,
    [budgetField]: o.maxTokens,
    top_p: sampling.topP,
    top_k: o.topK,
    stop: o.stop !== undefined && o.stop.length > 0 ? o.stop : undefined,
    tools: toolsOf(o.tools, req.target.cacheMarks === true),
    tool_choice: o.toolChoice,
    parallel_tool_calls: o.parallelToolCalls,
    response_format: o.responseFormat,
    seed: o.seed,
    presence_penalty: o.presencePenalty,
    frequency_penalty: o.frequencyPenalty,
    logit_bias: o.logitBias,
    logprobs: o.logprobs,
    top_logprobs: o.topLogprobs,
    user: o.user,
    reasoning_effort: thinking === undefined ? o.reasoningEffort : undefined,
    metadata: metadataOf(req),
    stream: stream ? true : undefined,
    stream_options: stream ? { include_usage: true } : undefined,
  };
  // Not `{ ...o.extra, model, … }`: adding fields after a spread is slow on Node 20 (libs/core objects.ts).
  const extra = o.anthropicServiceTier === 'standard_only' ? withStandardTier(o.extra) : o.extra;
  const sent = extra === undefined ? body : merged(extra, body);
  // Added only when there is one: an undefined `thinking` in `body` would wipe a client's pass-through `thinking`
  // (Z.ai's and DeepSeek's OpenAI-compatible APIs take one of their own).
  return JSON.stringify(thinking === undefined ? sent : merged(sent, { thinking }));
}

/**
 * Anthropic's `service_tier: "standard_only"` (`/v1/messages`), which routing keeps to Claude deployments: on this
 * wire only to one reached through an OpenAI-compatible gateway (LiteLLM), which is given it to pass on or refuse,
 * never dropped here. `auto`, every provider's default, is left out.
 */
function withStandardTier(extra: GenerationOptions['extra']): JsonObject {
  return merged(extra ?? {}, { service_tier: 'standard_only' });
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

export function usageOf(u: WireUsage | null | undefined): Usage {
  if (u === null || u === undefined) {
    return { promptTokens: 0, completionTokens: 0, totalTokens: 0, cachedPromptTokens: 0 };
  }
  const details = u.prompt_tokens_details;
  const cachedPromptTokens = num(details?.cached_tokens ?? u.prompt_cache_hit_tokens);
  const written = num(details?.cache_write_tokens ?? details?.cache_creation_tokens ?? u.cache_creation_input_tokens);
  const completionTokens = num(u.completion_tokens);
  let promptTokens = num(u.prompt_tokens);
  let totalTokens = u.total_tokens !== undefined ? num(u.total_tokens) : promptTokens + completionTokens;
  // `prompt_tokens` counts reads and writes (OpenAI's convention, OpenRouter's and LiteLLM's today), except in LiteLLM's
  // releases of mid-2025, which left the writes out: writes that cannot fit beside the reads show it, and are added.
  if (written > promptTokens - cachedPromptTokens) {
    promptTokens += written;
    totalTokens += written;
  }
  const usage: Usage = { promptTokens, completionTokens, totalTokens, cachedPromptTokens };
  if (written > 0) {
    usage.cacheWritePromptTokens = written;
  }
  const reasoning = u.completion_tokens_details?.reasoning_tokens;
  if (typeof reasoning === 'number' && reasoning > 0) {
    usage.reasoningTokens = reasoning;
  }
  // OpenAI reports these as 0 on every answer: only counts that say something are kept.
  const accepted = num(u.completion_tokens_details?.accepted_prediction_tokens);
  const rejected = num(u.completion_tokens_details?.rejected_prediction_tokens);
  if (accepted > 0 || rejected > 0) {
    usage.acceptedPredictionTokens = accepted;
    usage.rejectedPredictionTokens = rejected;
  }
  const audio = num(details?.audio_tokens);
  if (audio > 0) {
    usage.audioPromptTokens = audio;
  }
  const cost = reportedCost(u);
  if (cost !== undefined) {
    usage.reportedCostUsd = cost;
  }
  return usage;
}

function dollars(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined;
}

/**
 * OpenRouter's `usage.cost` (docs: Usage Accounting): what the account was charged. For a BYOK call (`is_byok: true`)
 * that is OpenRouter's fee alone, the provider having billed the key's own account `upstream_inference_cost`: both
 * are the call's cost. Otherwise `upstream_inference_cost` repeats the cost charged and is not added.
 */
function reportedCost(u: WireUsage): number | undefined {
  const cost = dollars(u.cost);
  if (cost === undefined || u.is_byok !== true) {
    return cost;
  }
  return cost + (dollars(u.cost_details?.upstream_inference_cost) ?? 0);
}

function text(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

/**
 * A call's arguments as OpenAI gives them, JSON text: a server that gives the JSON object itself (TGI's OpenAI-compatible
 * API, llama.cpp's server in some versions) has it written out, which the client would otherwise get as an empty
 * string. Absent arguments are ''.
 */
function argumentsOf(args: unknown): string {
  if (typeof args === 'string') {
    return args;
  }
  return typeof args === 'object' && args !== null ? JSON.stringify(args) : '';
}

function toolCallsOf(wire: WireToolCall[] | null | undefined): ToolCall[] | undefined {
  if (!Array.isArray(wire) || wire.length === 0) {
    return undefined;
  }
  return wire.map((c) => ({
    // A server that gives a call no id (some do) gets one made up: the next turn must name the call.
    // Its thought signature rides on either id (Gemini 3 refuses the next turn without it).
    id: idWithSignature(
      typeof c.id === 'string' && c.id.length > 0 ? c.id : newToolCallId(),
      c.extra_content?.google?.thought_signature,
    ),
    type: 'function',
    function: {
      name: typeof c.function?.name === 'string' ? c.function.name : '',
      arguments: argumentsOf(c.function?.arguments),
    },
  }));
}

/**
 * A `content` given as a list of chunks, as Mistral's reasoning models give it (docs.mistral.ai, "Reasoning": a
 * `{"type": "thinking", "thinking": [{"type": "text", "text"}]}` chunk, then `{"type": "text", "text"}` ones): the text
 * chunks are the answer, the thinking ones its reasoning, read as `reasoning_content` is. Other chunks (Mistral's
 * `reference` ids) carry no text. Only a list is read here: a string content costs nothing more.
 */
function contentOfChunks(chunks: readonly unknown[]): { text: string; reasoning: string | undefined } {
  let answer = '';
  let reasoning: string | undefined;
  for (const c of chunks) {
    if (!isRecordValue(c)) {
      continue;
    }
    if (c.type === 'text' && typeof c.text === 'string') {
      answer += c.text;
    } else if (c.type === 'thinking') {
      const thought = thinkingTextOf(c.thinking);
      if (thought !== '') {
        reasoning = (reasoning ?? '') + thought;
      }
    }
  }
  return { text: answer, reasoning };
}

/** A thinking chunk's text: a list of text chunks (Mistral's), or a string. */
function thinkingTextOf(thinking: unknown): string {
  if (typeof thinking === 'string') {
    return thinking;
  }
  let out = '';
  if (Array.isArray(thinking)) {
    for (const t of thinking) {
      if (isRecordValue(t) && typeof t.text === 'string') {
        out += t.text;
      }
    }
  }
  return out;
}

/** The parts of a message (or a stream delta) beyond its text, only those present. */
function isRecordValue(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

/** Thinking blocks as Claude gave them (through LiteLLM): those with a signature, and redacted ones, whole. */
function signedBlocksOf(blocks: readonly unknown[]): ThinkingBlock[] {
  const out: ThinkingBlock[] = [];
  for (const b of blocks) {
    if (!isRecordValue(b)) {
      continue;
    }
    if (b.type === 'thinking' && typeof b.thinking === 'string' && typeof b.signature === 'string' && b.signature) {
      out.push({ type: 'thinking', thinking: b.thinking, signature: b.signature });
    } else if (b.type === 'redacted_thinking' && typeof b.data === 'string' && b.data !== '') {
      out.push({ type: 'redacted_thinking', data: b.data });
    }
  }
  return out;
}

function detailsOf(m: WireMessage | null | undefined, choice: WireChoice, body: WireCompletion): AnswerDetails {
  const details: AnswerDetails = {};
  const toolCalls = toolCallsOf(m?.tool_calls);
  if (toolCalls !== undefined) {
    details.toolCalls = toolCalls;
  }
  const refusal = text(m?.refusal);
  if (refusal !== undefined) {
    details.refusal = refusal;
  }
  const reasoning =
    text(m?.reasoning_content) ??
    text(m?.reasoning) ??
    (Array.isArray(m?.content) ? contentOfChunks(m.content).reasoning : undefined);
  if (reasoning !== undefined) {
    details.reasoning = reasoning;
  }
  const thinkingBlocks = Array.isArray(m?.thinking_blocks) ? signedBlocksOf(m.thinking_blocks) : [];
  if (thinkingBlocks.length > 0) {
    details.thinkingBlocks = thinkingBlocks;
  }
  if (choice.logprobs !== undefined && choice.logprobs !== null) {
    details.logprobs = choice.logprobs;
  }
  const fingerprint = text(body.system_fingerprint);
  if (fingerprint !== undefined) {
    details.systemFingerprint = fingerprint;
  }
  const tier = text(body.service_tier);
  if (tier !== undefined) {
    details.serviceTier = tier;
  }
  const citations = citationsOf(body.citations);
  if (citations !== undefined) {
    details.citations = citations;
  }
  if (isNonEmptyList(body.search_results)) {
    details.searchResults = body.search_results;
  }
  if (isNonEmptyList(m?.annotations)) {
    details.annotations = m.annotations;
  }
  return details;
}

/** A list with something in it: what the sources fields hold when they say anything (null, [] or else: nothing). */
function isNonEmptyList(v: unknown): v is JsonValue[] {
  return Array.isArray(v) && v.length > 0;
}

/** Perplexity's `citations`: its URLs (anything else in the list is left out). */
function citationsOf(v: unknown): string[] | undefined {
  if (!isNonEmptyList(v)) {
    return undefined;
  }
  const urls = v.every((u) => typeof u === 'string') ? v : v.filter((u) => typeof u === 'string');
  return urls.length > 0 ? urls : undefined;
}

/**
 * A streamed tool call as numbered for the client: whether its id went out (`none`, the server's `given`, or one `made`
 * up because the call started without one) and whether its name did.
 */
interface ToolSlot {
  id: 'none' | 'made' | 'given';
  name: boolean;
}

/**
 * Streamed tool-call fragments in OpenAI's form: calls numbered 0, 1, ... in the order they start, the first fragment
 * of each with its id and name, later ones with argument text only. Servers differ: OpenAI numbers parallel calls by
 * `index` and names each once; Google's OpenAI-compatible endpoint (and others) send each call whole without an
 * `index`, some proxies of Ollama give every call `index` 0, some servers repeat the id and name in every fragment,
 * others (Poolside's API, some mlx-openai-server releases) give the fragments after a call's first another id.
 * A fragment with an id not seen yet starts a call, whatever its index, unless it has no name and its index names a
 * call that has one: it continues that call. One without an id continues the call its index (or, without one, the
 * last call) names. A call that starts without an id (some servers give none, or none past the first call) gets one
 * made up, as Gemini's and Ollama's calls do: the SDKs refuse a call without one, and the next turn must name it.
 */
class ToolCallNumbering {
  private readonly slots: ToolSlot[] = [];
  /** The server's index → ours, for the fragments that carry only an index. */
  private readonly byIndex = new Map<number, number>();
  private readonly byId = new Map<string, number>();

  deltasOf(wire: WireToolCall[]): ToolCallDelta[] {
    return wire.map((c) => this.deltaOf(c));
  }

  private deltaOf(c: WireToolCall): ToolCallDelta {
    const id = typeof c.id === 'string' && c.id.length > 0 ? c.id : undefined;
    const name = typeof c.function?.name === 'string' && c.function.name.length > 0 ? c.function.name : undefined;
    const index = this.slotOf(id, typeof c.index === 'number' ? c.index : undefined, name !== undefined);
    const slot = this.slots[index];
    const d: ToolCallDelta = { index };
    if (id !== undefined && slot.id !== 'given') {
      if (slot.id === 'none') {
        d.id = idWithSignature(id, c.extra_content?.google?.thought_signature);
      }
      slot.id = 'given';
    } else if (slot.id === 'none') {
      slot.id = 'made';
      d.id = idWithSignature(newToolCallId(), c.extra_content?.google?.thought_signature);
    }
    if (name !== undefined && !slot.name) {
      slot.name = true;
      d.name = name;
    }
    const args = argumentsOf(c.function?.arguments);
    if (args.length > 0) {
      d.arguments = args;
    }
    return d;
  }

  private slotOf(id: string | undefined, wireIndex: number | undefined, hasName: boolean): number {
    let index = id === undefined ? undefined : this.byId.get(id);
    if (index === undefined) {
      const named = wireIndex === undefined ? undefined : this.byIndex.get(wireIndex);
      const last = this.slots.length - 1;
      if (id === undefined) {
        // A continuation: of the call its index names, else of the last one (unless it names a second function).
        index =
          named ?? (wireIndex === undefined && last >= 0 && !(hasName && this.slots[last].name) ? last : undefined);
      } else if (named !== undefined && (this.slots[named].id !== 'given' || (!hasName && this.slots[named].name))) {
        // The id came after the call's first fragment; or a later fragment of a named call came with another id
        // and no name (a new call starts with its name).
        index = named;
      }
      if (index === undefined) {
        index = this.slots.length;
        this.slots.push({ id: 'none', name: false });
      }
      if (id !== undefined) {
        this.byId.set(id, index);
      }
    }
    if (wireIndex !== undefined) {
      this.byIndex.set(wireIndex, index);
    }
    return index;
  }
}

/**
 * An error the server reported in band; classified by the status it names (`classifyInBandError`), or, from TGI's
 * Messages API, by its `error_type` (`errorType`: a `validation` one is the request's, `classifyTgiValidation`).
 */
function inBandError(
  error: unknown,
  apiKey: string | undefined,
  status?: number,
  errorType?: unknown,
): ProviderCallError {
  const detail = errorDetailOf({ error });
  const message = safeMessage(detail?.message ?? 'unknown', apiKey);
  const tgi = classifyTgiValidation(error, errorType, apiKey);
  if (tgi !== undefined) {
    return new ProviderCallError(tgi.errorClass, `upstream error: ${message}`, { status, param: tgi.param });
  }
  const { errorClass, retryAfterMs, overloaded } = classifyInBandError(error, apiKey);
  // vLLM's in-band 400 names the field (`param`) as its HTTP 400 would.
  const param = errorClass === ErrorClass.InvalidRequest ? detail?.param : undefined;
  return new ProviderCallError(errorClass, `upstream error: ${message}`, { status, retryAfterMs, param, overloaded });
}

/**
 * The stop sequence that ended an answer, when the server names it: vLLM's `stop_reason`, SGLang's `matched_stop`
 * (OpenAI's API says only `stop`). Only one of the request's `stops` counts: both also give a token id, and a server
 * could put its own word there; an end of sequence is no stop sequence. A /v1/messages client reads it as Anthropic's
 * `stop_reason: "stop_sequence"` with `stop_sequence` named, as Claude's answers say it.
 */
function stopSequenceOf(choice: WireChoice, stops: readonly string[] | undefined): string | undefined {
  if (stops === undefined || stops.length === 0) {
    return undefined;
  }
  for (const named of [choice.stop_reason, choice.matched_stop]) {
    if (typeof named === 'string' && stops.includes(named)) {
      return named;
    }
  }
  return undefined;
}

/**
 * A 2xx `/chat/completions` body. Some proxies answer 200 with `{"error": ...}`: that is a provider failure, whose
 * message may echo `apiKey` (the key the call sent). `stops`: the request's stop sequences (`stopSequenceOf`).
 */
export function readCompletion(
  json: unknown,
  status: number,
  apiKey: string | undefined,
  stopForToolCalls = false,
  stops?: readonly string[],
): Omit<AdapterResponse, 'rateLimit'> {
  const body = json as WireCompletion | null;
  if (typeof body !== 'object' || body === null) {
    throw new ProviderCallError(ErrorClass.Provider, `upstream HTTP ${status}: body is not a completion`, { status });
  }
  if (body.error !== undefined && body.error !== null) {
    throw inBandError(body.error, apiKey, status, body.error_type);
  }
  const choice = Array.isArray(body.choices) ? body.choices[0] : undefined;
  if (choice === undefined || choice === null || typeof choice !== 'object') {
    throw new ProviderCallError(ErrorClass.Provider, `upstream HTTP ${status}: completion has no choices`, { status });
  }
  const content = choice.message?.content;
  const usage = usageOf(body.usage);
  const res: Omit<AdapterResponse, 'rateLimit'> = {
    id: typeof body.id === 'string' ? body.id : '',
    created: typeof body.created === 'number' ? body.created : Math.floor(Date.now() / 1000),
    text: typeof content === 'string' ? content : Array.isArray(content) ? contentOfChunks(content).text : '',
    finishReason: openAiFinishReason(choice.finish_reason, usage),
    usage,
    ...detailsOf(choice.message, choice, body),
  };
  if (stopForToolCalls && res.finishReason === 'stop' && res.toolCalls !== undefined) {
    res.finishReason = 'tool_calls';
  }
  const stopSequence = res.finishReason === 'stop' ? stopSequenceOf(choice, stops) : undefined;
  if (stopSequence !== undefined) {
    res.stopSequence = stopSequence;
  }
  return res;
}

/**
 * `data:` chunks until `data: [DONE]`; the usage chunk (empty `choices`) comes right before it. Some
 * OpenAI-compatible servers close the stream without `[DONE]`: once a finish reason came, what arrived is the whole
 * answer (the OpenAI SDKs read it so too); a stream closed before any finish reason stays a cut one.
 */
export class OpenAiStreamDecoder implements StreamDecoder {
  readonly terminal = '[DONE]';
  private idSent = false;
  private fingerprintSent = false;
  private serviceTierSent = false;
  /**
   * Perplexity repeats `citations` and `search_results` on every chunk: they go on once, with the first delta that has
   * them, and again only when a list changes (the new list replaces the one sent; a list of the same length with other
   * items is a change too). The lists as they came on the wire; null: none sent yet.
   */
  private citationsSent: readonly unknown[] | null = null;
  private searchResultsSent: readonly unknown[] | null = null;
  private finished = false;
  /**
   * The answer ended with a failed finish (`finish_reason: "error"` or `"abort"`, lower-cased here) in a chunk without
   * usage: the usage chunk that may follow (sent before `[DONE]` with `include_usage`) is awaited, for what the
   * provider billed (`ProviderCallError.charged`).
   */
  private errorFinished: string | undefined;
  /** Made when the first tool-call fragment comes: most streams have none. */
  private toolCalls: ToolCallNumbering | undefined;

  /**
   * `apiKey`: the key the call sent, hidden from in-band error messages. `stopForToolCalls`: the server ends answers
   * with tool calls as `stop` (`saysStopForToolCalls`), read as `tool_calls`. `stops`: the request's stop sequences,
   * one of which the server may name as the end (`stopSequenceOf`).
   */
  constructor(
    private readonly apiKey: string | undefined,
    private readonly stopForToolCalls = false,
    private readonly stops?: readonly string[],
  ) {}

  complete(): boolean {
    if (this.errorFinished !== undefined) {
      throw errorFinish(undefined, this.errorFinished);
    }
    return this.finished;
  }

  /** A streamed thinking block's end (its signature) or a redacted block, as LiteLLM streams Claude's; one a chunk. */
  private endOfThinking(blocks: readonly unknown[], delta: StreamDelta): boolean {
    for (const b of blocks) {
      if (!isRecordValue(b)) {
        continue;
      }
      if (b.type === 'thinking' && typeof b.signature === 'string' && b.signature !== '') {
        delta.reasoningSignature = b.signature;
      } else if (b.type === 'redacted_thinking' && typeof b.data === 'string' && b.data !== '') {
        delta.redactedReasoning = b.data;
      }
    }
    return delta.reasoningSignature !== undefined || delta.redactedReasoning !== undefined;
  }

  onEvent(event: SseEvent, out: StreamDelta[]): boolean {
    const data = event.data;
    if (data === '[DONE]') {
      if (this.errorFinished !== undefined) {
        throw errorFinish(undefined, this.errorFinished);
      }
      return true;
    }
    let chunk: WireCompletion;
    try {
      chunk = JSON.parse(data) as WireCompletion;
    } catch (err) {
      if (event.event === 'error') {
        throw inBandError(data, this.apiKey);
      }
      throw new ProviderCallError(ErrorClass.Provider, 'upstream sent a stream chunk that is not JSON', { cause: err });
    }
    if (typeof chunk !== 'object' || chunk === null) {
      throw new ProviderCallError(ErrorClass.Provider, 'upstream sent a stream chunk that is not an object');
    }
    if (chunk.error !== undefined && chunk.error !== null) {
      throw inBandError(chunk.error, this.apiKey, undefined, chunk.error_type);
    }
    // An `error` event (llama.cpp's `error:` line, see SseParser) holds the error object itself, as vLLM's does.
    if (chunk.object === 'error' || event.event === 'error') {
      // Without `choices` it would read as an empty chunk, and the `[DONE]` after it end a truncated answer as whole.
      throw inBandError(chunk, this.apiKey);
    }
    const choice = Array.isArray(chunk.choices) ? chunk.choices[0] : undefined;
    const finish = choice?.finish_reason;
    const failed = this.errorFinished ?? (isErrorFinish(finish) ? finish.toLowerCase() : undefined);
    if (failed !== undefined) {
      // A failed generation: nothing of it goes on; its usage, in this chunk or the next, is what it cost.
      this.errorFinished = failed;
      if (chunk.usage !== undefined && chunk.usage !== null) {
        throw errorFinish(usageOf(chunk.usage), failed);
      }
      return false;
    }
    const content = choice?.delta?.content;
    const delta: StreamDelta = { text: typeof content === 'string' ? content : '' };
    // Mistral's reasoning models stream their thinking (and the first text) as a list of chunks.
    let thought: string | undefined;
    if (Array.isArray(content)) {
      const chunks = contentOfChunks(content);
      delta.text = chunks.text;
      thought = chunks.reasoning;
    }
    const finishReason = openAiFinishReason(choice?.finish_reason) ?? undefined;
    if (finishReason !== undefined) {
      delta.finishReason = finishReason;
      this.finished = true;
    }
    // Groq's `x_groq.usage` only where no `usage` is: a usage chunk after it (the last one counts) says the same.
    const wireUsage = chunk.usage ?? chunk.x_groq?.usage;
    if (wireUsage !== undefined && wireUsage !== null) {
      delta.usage = usageOf(wireUsage);
    }
    const wireCalls = choice?.delta?.tool_calls;
    const toolCalls =
      Array.isArray(wireCalls) && wireCalls.length > 0
        ? (this.toolCalls ??= new ToolCallNumbering()).deltasOf(wireCalls)
        : undefined;
    if (toolCalls !== undefined) {
      delta.toolCalls = toolCalls;
    }
    if (this.stopForToolCalls && delta.finishReason === 'stop' && this.toolCalls !== undefined) {
      delta.finishReason = 'tool_calls';
    }
    const stopSequence =
      delta.finishReason === 'stop' && choice !== undefined ? stopSequenceOf(choice, this.stops) : undefined;
    if (stopSequence !== undefined) {
      delta.stopSequence = stopSequence;
    }
    const reasoning = text(choice?.delta?.reasoning_content) ?? text(choice?.delta?.reasoning) ?? thought;
    if (reasoning !== undefined) {
      delta.reasoning = reasoning;
    }
    // LiteLLM's thinking blocks: their text came as `reasoning_content`; what ends a block is its signature.
    const blocks = choice?.delta?.thinking_blocks;
    const ended = Array.isArray(blocks) ? this.endOfThinking(blocks, delta) : false;
    const refusal = text(choice?.delta?.refusal);
    if (refusal !== undefined) {
      delta.refusal = refusal;
    }
    const logprobs = choice?.logprobs;
    if (logprobs !== undefined && logprobs !== null) {
      delta.logprobs = logprobs;
    }
    // A field check each (most streams have none of them); a chunk that has a list (Perplexity's, on every chunk) is
    // compared with the one sent, item by item, and goes on when it differs.
    const newCitations = chunk.citations !== undefined && this.newCitations(chunk.citations, delta);
    const sources =
      (chunk.search_results !== undefined && this.newSearchResults(chunk.search_results, delta)) || newCitations;
    const annotations = choice?.delta?.annotations;
    if (annotations !== undefined && isNonEmptyList(annotations)) {
      delta.annotations = annotations;
    }
    // Role-only and empty keep-alive chunks carry nothing worth a delta. A chunk with an empty delta can still carry
    // logprobs: those of a token with no text of its own (part of a character split over tokens), which a client
    // that asked for logprobs must get, in their place among the others.
    if (
      delta.text.length === 0 &&
      finishReason === undefined &&
      delta.usage === undefined &&
      toolCalls === undefined &&
      reasoning === undefined &&
      refusal === undefined &&
      !ended &&
      !sources &&
      delta.annotations === undefined &&
      !hasLogprobEntries(logprobs)
    ) {
      return false;
    }
    const fingerprint = text(chunk.system_fingerprint);
    if (fingerprint !== undefined && !this.fingerprintSent) {
      this.fingerprintSent = true;
      delta.systemFingerprint = fingerprint;
    }
    if (!this.serviceTierSent && chunk.service_tier !== undefined) {
      const tier = text(chunk.service_tier);
      if (tier !== undefined) {
        this.serviceTierSent = true;
        delta.serviceTier = tier;
      }
    }
    if (!this.idSent && typeof chunk.id === 'string' && chunk.id.length > 0) {
      this.idSent = true;
      delta.id = chunk.id;
      if (typeof chunk.created === 'number') {
        delta.created = chunk.created;
      }
    }
    out.push(delta);
    return false;
  }

  /** Whether this chunk's `citations` go on (set on `delta`): its first list, or one other than the last sent. */
  private newCitations(wire: unknown, delta: StreamDelta): boolean {
    if (!Array.isArray(wire) || sameStrings(wire, this.citationsSent)) {
      return false;
    }
    const citations = citationsOf(wire);
    if (citations === undefined) {
      return false;
    }
    this.citationsSent = wire;
    delta.citations = citations;
    return true;
  }

  /** Likewise `search_results` (objects: compared item by item, once the lengths agree). */
  private newSearchResults(wire: unknown, delta: StreamDelta): boolean {
    if (!isNonEmptyList(wire)) {
      return false;
    }
    const sent = this.searchResultsSent;
    if (sent !== null && sent.length === wire.length && isDeepStrictEqual(sent, wire)) {
      return false;
    }
    this.searchResultsSent = wire;
    delta.searchResults = wire;
    return true;
  }
}

/**
 * Whether `wire` holds what `sent` held (Perplexity's URLs, repeated on every chunk): a length check, then one string
 * comparison an item, stopping at the first that differs. Only for a chunk that has the field.
 */
function sameStrings(wire: readonly unknown[], sent: readonly unknown[] | null): boolean {
  if (sent === null || sent.length !== wire.length) {
    return false;
  }
  for (let i = 0; i < wire.length; i++) {
    if (wire[i] !== sent[i]) {
      return false;
    }
  }
  return true;
}
