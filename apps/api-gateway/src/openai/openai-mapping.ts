import {
  GatewayError,
  toolIndexOfParam,
  toolNameParam,
  type FunctionTool,
  type GenerationOptions,
  type GenerationRequest,
  type GenerationResult,
  type JsonObject,
  type JsonValue,
  type ThinkingBlock,
  type ToolCall,
  type ToolChoice,
  type Usage,
} from '@aigw/core';
import { applyRoutingChoices, isSet, toChatMessage, toOptions, type RequestFrame } from '../generation/request-frame';
import { isAllowedToolsChoice } from '../validation/openai-fields';
import { CHAT_COMPLETION_FIELDS, type ChatCompletionDto } from './chat-completion.dto';

/**
 * The body's top-level fields the gateway does not model (`known`: the route's own), as received (plain JSON), for
 * pass-through to OpenAI-compatible providers. `null` means "default" and is left out.
 */
export function extraFieldsOf(
  body: unknown,
  known: ReadonlySet<string> = CHAT_COMPLETION_FIELDS,
): JsonObject | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return undefined;
  }
  let extra: JsonObject | undefined;
  for (const [key, value] of Object.entries(body as Record<string, JsonValue>)) {
    if (!known.has(key) && value !== null && value !== undefined && !isDefaultExtra(key, value)) {
      extra ??= {};
      extra[key] = value;
    }
  }
  return extra;
}

/**
 * Pass-through fields whose value is OpenAI's documented default: `store: false` (it stores nothing unless asked),
 * `modalities: ["text"]` (text output), `service_tier: "auto"` (the project's tier). Left out like the defaults below,
 * they keep no request away from the families that lack the field.
 */
function isDefaultExtra(key: string, value: JsonValue): boolean {
  switch (key) {
    case 'store':
      return value === false;
    case 'modalities':
      return Array.isArray(value) && value.length === 1 && value[0] === 'text';
    case 'service_tier':
      return value === 'auto';
    default:
      return false;
  }
}

/**
 * A value that asks for exactly what leaving its field out asks for (OpenAI's documented defaults). Such values are
 * left out of the request: a client that spells its defaults (penalties of 0, `logprobs: false`,
 * `parallel_tool_calls: true`, empty `metadata` or `logit_bias`) is not kept from the families that lack the field, and shares
 * cache entries with one that sends nothing.
 */
const DEFAULT_VALUE: Partial<Record<keyof GenerationOptions, (value: unknown) => boolean>> = {
  presencePenalty: (v) => v === 0,
  frequencyPenalty: (v) => v === 0,
  logprobs: (v) => v === false,
  parallelToolCalls: (v) => v === true,
  metadata: (v) => typeof v === 'object' && v !== null && Object.keys(v).length === 0,
  logitBias: (v) => typeof v === 'object' && v !== null && Object.keys(v).length === 0,
};

function isDefault(key: keyof GenerationOptions, value: unknown): boolean {
  return DEFAULT_VALUE[key]?.(value) === true;
}

/**
 * Plain copies: DTO instances must not reach the job. An `allowed_tools` tool choice keeps the tools it names: what
 * the model may call is then what it is offered, which every family can be told (see `toolChoiceOf`).
 */
function toolsOf(dto: ChatCompletionDto): FunctionTool[] | undefined {
  if (!isSet(dto.tools) || dto.tools.length === 0) {
    return undefined;
  }
  const choice = dto.tool_choice;
  const allowed = isAllowedToolsChoice(choice)
    ? new Set(choice.allowed_tools.tools.map((t) => t.function.name))
    : undefined;
  const offered = allowed === undefined ? dto.tools : dto.tools.filter((t) => allowed.has(t.function.name));
  return offered.map((t) => {
    const fn: FunctionTool['function'] = { name: t.function.name };
    if (isSet(t.function.description)) {
      fn.description = t.function.description;
    }
    if (isSet(t.function.parameters)) {
      fn.parameters = t.function.parameters;
    }
    if (isSet(t.function.strict)) {
      fn.strict = t.function.strict;
    }
    return { type: 'function', function: fn };
  });
}

/**
 * An error naming an offered tool by its place among the request's tools, re-told with its place in the body's
 * `tools`: an `allowed_tools` choice offers only the tools it names (`toolsOf`), so the two differ then.
 */
export function inChatTerms(err: unknown, dto: ChatCompletionDto): unknown {
  const at = err instanceof GatewayError && err.param !== null ? toolIndexOfParam(err.param) : undefined;
  if (at === undefined || !isAllowedToolsChoice(dto.tool_choice)) {
    return err;
  }
  const offered = toolsOf(dto)?.[at]?.function.name;
  const index = dto.tools?.findIndex((t) => t.function.name === offered) ?? -1;
  if (index < 0) {
    return err;
  }
  const e = err as GatewayError;
  return new GatewayError(e.code, e.message, { param: toolNameParam(index), cause: e });
}

/** OpenAI's `allowed_tools` choice as its mode, over the tools it allows (`toolsOf` keeps only those). */
function toolChoiceOf(choice: ChatCompletionDto['tool_choice']): ToolChoice | undefined {
  return isAllowedToolsChoice(choice) ? choice.allowed_tools.mode : choice;
}

function optionsOf(dto: ChatCompletionDto, body: unknown): GenerationOptions {
  const options = toOptions({
    temperature: dto.temperature,
    // max_completion_tokens supersedes max_tokens in OpenAI's API; honour it when both are sent.
    maxTokens: dto.max_completion_tokens ?? dto.max_tokens,
    topP: dto.top_p,
    stop: dto.stop,
  });
  if (isSet(dto.max_completion_tokens)) {
    options.maxTokensField = 'max_completion_tokens';
  }
  const tools = toolsOf(dto);
  if (tools !== undefined) {
    options.tools = tools;
  }
  const set = <K extends keyof GenerationOptions>(key: K, value: GenerationOptions[K] | null | undefined): void => {
    if (isSet(value) && !isDefault(key, value)) {
      options[key] = value;
    }
  };
  // The remaining values are validated JSON of the very shape the domain types describe (see the DTO).
  set('toolChoice', toolChoiceOf(dto.tool_choice));
  set('parallelToolCalls', dto.parallel_tool_calls);
  set('responseFormat', dto.response_format);
  set('seed', dto.seed);
  set('topK', dto.top_k);
  set('presencePenalty', dto.presence_penalty);
  set('frequencyPenalty', dto.frequency_penalty);
  set('logitBias', dto.logit_bias);
  set('logprobs', dto.logprobs);
  set('topLogprobs', dto.top_logprobs);
  set('user', dto.user);
  set('reasoningEffort', dto.reasoning_effort);
  set('metadata', dto.metadata);
  set('extra', extraFieldsOf(body));
  return options;
}

/** `body` is the request body as received, for the pass-through of fields the DTO does not declare. */
export function chatCompletionRequest(dto: ChatCompletionDto, frame: RequestFrame, body?: unknown): GenerationRequest {
  const request: GenerationRequest = {
    requestId: frame.requestId,
    model: dto.model,
    messages: dto.messages.map(toChatMessage),
    options: optionsOf(dto, body),
    stream: dto.stream === true,
    userId: frame.userId,
    apiKeyId: frame.apiKeyId,
    deadlineAt: frame.deadlineAt,
    receivedAt: frame.receivedAt,
  };
  applyRoutingChoices(request, dto, frame);
  return request;
}

export interface OpenAiUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number; audio_tokens?: number };
  completion_tokens_details?: {
    reasoning_tokens: number;
    accepted_prediction_tokens?: number;
    rejected_prediction_tokens?: number;
  };
}

export function openAiUsage(u: Usage): OpenAiUsage {
  const usage: OpenAiUsage = {
    prompt_tokens: u.promptTokens,
    completion_tokens: u.completionTokens,
    total_tokens: u.totalTokens,
    prompt_tokens_details: { cached_tokens: u.cachedPromptTokens },
  };
  if (u.audioPromptTokens !== undefined) {
    usage.prompt_tokens_details.audio_tokens = u.audioPromptTokens;
  }
  const predicted = u.acceptedPredictionTokens !== undefined || u.rejectedPredictionTokens !== undefined;
  if (predicted) {
    usage.completion_tokens_details = {
      reasoning_tokens: u.reasoningTokens ?? 0,
      accepted_prediction_tokens: u.acceptedPredictionTokens ?? 0,
      rejected_prediction_tokens: u.rejectedPredictionTokens ?? 0,
    };
  } else if (u.reasoningTokens !== undefined) {
    usage.completion_tokens_details = { reasoning_tokens: u.reasoningTokens };
  }
  return usage;
}

export interface ChatCompletionMessage {
  role: 'assistant';
  content: string | null;
  refusal: string | null;
  tool_calls?: ToolCall[];
  /** DeepSeek's field name, which OpenAI-compatible clients (and reasoning UIs) read. */
  reasoning_content?: string;
  /** The reasoning as the provider signed it (Anthropic), under LiteLLM's name: sent back in history as it is. */
  thinking_blocks?: ThinkingBlock[];
  /** The provider's (OpenAI's search models: `url_citation`s), as it gave them. */
  annotations?: JsonValue[];
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: {
    index: 0;
    message: ChatCompletionMessage;
    finish_reason: string;
    logprobs: JsonValue;
  }[];
  usage: OpenAiUsage;
  system_fingerprint?: string;
  /** The provider's, when it gave them: OpenAI's `service_tier`, Perplexity's `citations` and `search_results`. */
  service_tier?: string;
  citations?: string[];
  search_results?: JsonValue[];
}

export function completionMessage(result: GenerationResult): ChatCompletionMessage {
  const toolCalls = result.toolCalls ?? [];
  const message: ChatCompletionMessage = {
    role: 'assistant',
    // OpenAI answers a pure tool-call turn, and a refusal, with null content.
    content: result.text === '' && (toolCalls.length > 0 || (result.refusal ?? '') !== '') ? null : result.text,
    refusal: result.refusal ?? null,
  };
  if (toolCalls.length > 0) {
    message.tool_calls = toolCalls;
  }
  if (result.reasoning !== undefined && result.reasoning !== '') {
    message.reasoning_content = result.reasoning;
  }
  if (result.thinkingBlocks !== undefined) {
    message.thinking_blocks = result.thinkingBlocks;
  }
  if (result.annotations !== undefined) {
    message.annotations = result.annotations;
  }
  return message;
}

/**
 * OpenAI's completion ids start `chatcmpl-` (what clients and tools that key on them expect of this API), as
 * Anthropic's start `msg_` (`messageIdOf`): another family's id (Anthropic's `msg_...`, Gemini's `responseId`) is
 * kept after the prefix, so the provider's own id can still be found in it. One rule for streamed and whole answers.
 */
export function chatCompletionIdOf(id: string): string {
  return id.startsWith('chatcmpl-') ? id : `chatcmpl-${id}`;
}

/** `model` is the deployment that answered (`provider/model`), so clients see where their answer came from. */
export function chatCompletionBody(result: GenerationResult): ChatCompletion {
  const body: ChatCompletion = {
    id: chatCompletionIdOf(result.id),
    object: 'chat.completion',
    created: result.created,
    model: `${result.provider}/${result.model}`,
    choices: [
      {
        index: 0,
        message: completionMessage(result),
        finish_reason: result.finishReason ?? ((result.toolCalls?.length ?? 0) > 0 ? 'tool_calls' : 'stop'),
        logprobs: result.logprobs ?? null,
      },
    ],
    usage: openAiUsage(result.usage),
  };
  if (result.systemFingerprint !== undefined) {
    body.system_fingerprint = result.systemFingerprint;
  }
  if (result.serviceTier !== undefined) {
    body.service_tier = result.serviceTier;
  }
  if (result.citations !== undefined) {
    body.citations = result.citations;
  }
  if (result.searchResults !== undefined) {
    body.search_results = result.searchResults;
  }
  return body;
}
