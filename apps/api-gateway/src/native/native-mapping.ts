import {
  ErrorCode,
  GatewayError,
  merged,
  type Attempt,
  type ChatMessage,
  type ErrorBody,
  type GenerationRequest,
  type GenerationResult,
  type JsonValue,
  type KeptNative,
  type NativeInput,
  type ThinkingBlock,
  type Usage,
} from '@aigw/core';
import { applyRoutingChoices, isSet, toChatMessage, toOptions, type RequestFrame } from '../generation/request-frame';
import { checkToolConversation } from '../validation/chat-rules';
import { assertMediaParts } from '../validation/media-parts';
import type { GenerateDto } from './generate.dto';

export const DEFAULT_NATIVE_MODEL = 'auto';

export function nativeRequest(dto: GenerateDto, frame: RequestFrame): GenerationRequest {
  const hasPrompt = isSet(dto.prompt);
  const hasMessages = isSet(dto.messages);
  if (hasPrompt === hasMessages) {
    throw new GatewayError(ErrorCode.InvalidRequest, 'Send exactly one of prompt and messages.', {
      param: hasPrompt ? 'messages' : 'prompt',
    });
  }
  const messages: ChatMessage[] = [];
  if (dto.systemPrompt) {
    messages.push({ role: 'system', content: dto.systemPrompt });
  }
  if (isSet(dto.prompt)) {
    messages.push({ role: 'user', content: dto.prompt });
  } else if (dto.messages) {
    // Chat's rules of the messages themselves, named as the body has them (`systemPrompt` is not among them).
    checkToolConversation(dto.messages);
    assertMediaParts(dto.messages);
    for (const m of dto.messages) {
      messages.push(toChatMessage(m));
    }
  }
  const request: GenerationRequest = {
    requestId: frame.requestId,
    model: dto.model ?? DEFAULT_NATIVE_MODEL,
    messages,
    options: toOptions(dto.options ?? {}),
    stream: false,
    userId: frame.userId,
    apiKeyId: frame.apiKeyId,
    deadlineAt: frame.deadlineAt,
    receivedAt: frame.receivedAt,
  };
  if (isSet(dto.context)) {
    request.context = dto.context;
  }
  applyRoutingChoices(request, dto, frame);
  return request;
}

/** The native body's spelling of the OpenAI fields routing and the workers name in their errors. */
const NATIVE_OPTION_PARAMS: Readonly<Record<string, string>> = {
  temperature: 'options.temperature',
  top_p: 'options.topP',
  max_tokens: 'options.maxTokens',
  max_completion_tokens: 'options.maxTokens',
  stop: 'options.stop',
};

/**
 * What of a native body its gateway request's `messages` are made of: the input field it sent (validated: exactly one)
 * and whether a `systemPrompt` went first (`nativeRequest` leaves an empty one out).
 */
export interface NativeShape {
  input: NativeInput;
  systemPrompt: boolean;
}

export function nativeShapeOf(dto: GenerateDto): NativeShape {
  return { input: isSet(dto.prompt) ? 'prompt' : 'messages', systemPrompt: Boolean(dto.systemPrompt) };
}

/** `messages[2].content` (OpenAI), `messages.2.content` (Anthropic, Pydantic): the index and what follows it. */
const MESSAGE_PARAM = /^messages(?:\[(\d+)\]|\.(\d+))(.*)$/;

/**
 * An error's `param` as the native body spells it. Routing, the workers and the providers name OpenAI's fields
 * (`stop`, `top_p`, `messages`, `messages[1].content`), which a native body does not have: `options.stop`,
 * `options.topP`; a message of the gateway's request is the body's `systemPrompt` (the first, when one was sent), its
 * `prompt`, or its own message, indexed as the body has it (`messages[0].content`).
 */
export function nativeParam(param: string | null, shape: NativeShape): string | null {
  if (param === null) {
    return null;
  }
  if (param === 'messages') {
    return shape.input;
  }
  const indexed = MESSAGE_PARAM.exec(param);
  if (indexed === null) {
    return NATIVE_OPTION_PARAMS[param] ?? param;
  }
  const index = Number(indexed[1] ?? indexed[2]);
  if (shape.systemPrompt && index === 0) {
    return 'systemPrompt';
  }
  if (shape.input === 'prompt') {
    // A string: whatever the provider names inside its message (`.content`) is the prompt itself.
    return 'prompt';
  }
  return `messages[${index - (shape.systemPrompt ? 1 : 0)}]${indexed[3]}`;
}

/** `err` naming the native body's field (a new GatewayError, `err` its cause); any other error as it is. */
export function withNativeParam(err: unknown, shape: NativeShape): unknown {
  if (!(err instanceof GatewayError)) {
    return err;
  }
  const param = nativeParam(err.param, shape);
  if (param === err.param) {
    return err;
  }
  return new GatewayError(err.code, err.message, {
    param,
    retryAfterMs: err.retryAfterMs,
    attempts: err.attempts,
    retry: err.retry,
    cause: err,
  });
}

/** A stored error body naming the native body's field. */
export function nativeErrorBody(body: ErrorBody, shape: NativeShape): ErrorBody {
  const param = nativeParam(body.param, shape);
  return param === body.param ? body : merged(body, { param });
}

/**
 * A stored error body (a job's, or the outcome its worker kept) naming the native body's field, by the native fields
 * stored beside it (KeptNative); as it is for a job the native API did not make (or a value no gateway wrote).
 */
export function storedNativeErrorBody(body: ErrorBody, stored: KeptNative): ErrorBody {
  const input = stored.nativeInput;
  return input === 'prompt' || input === 'messages'
    ? nativeErrorBody(body, { input, systemPrompt: stored.nativeSystemPrompt === true })
    : body;
}

export interface GenerateResponse {
  requestId: string;
  text: string;
  provider: string;
  model: string;
  finishReason: string | null;
  usage: Usage;
  costUsd: number;
  latencyMs: number;
  attempts: Attempt[];
  /** Answered from the response cache (no provider call; `costUsd` is 0). */
  cached: boolean;
  /** The model's refusal, when its provider gave one (OpenAI's `message.refusal`; `text` is then empty). */
  refusal?: string;
  /**
   * The reasoning the provider returned (`reasoning_content` of DeepSeek and OpenAI-compatible servers, Anthropic's
   * thinking text), as `/v1/chat/completions` answers it in `message.reasoning_content`. Absent when empty.
   */
  reasoning?: string;
  /** Anthropic's signed thinking blocks (chat's `message.thinking_blocks`): what a later turn sends back unchanged. */
  thinkingBlocks?: ThinkingBlock[];
  /**
   * The answer's sources, when its provider gave them (see AnswerDetails): Perplexity's `citations` and
   * `search_results`, OpenAI's `service_tier` and message `annotations`, as `/v1/chat/completions` answers them.
   */
  citations?: string[];
  searchResults?: JsonValue[];
  serviceTier?: string;
  annotations?: JsonValue[];
}

/**
 * `requestId` is the result's own unless `requestId` is given: a live answer passes its response's `x-request-id`
 * (the client's own id, which never becomes the job's, or the replay's of an Idempotency-Key), so body and header agree.
 */
export function generateResponse(result: GenerationResult, requestId = result.requestId): GenerateResponse {
  const body: GenerateResponse = {
    requestId,
    text: result.text,
    provider: result.provider,
    model: result.model,
    finishReason: result.finishReason,
    usage: result.usage,
    costUsd: result.costUsd,
    latencyMs: result.latencyMs,
    attempts: result.attempts,
    cached: result.cached === true,
  };
  // Seven field checks; set only when the provider gave them, as on /v1/chat/completions.
  if (result.refusal !== undefined) {
    body.refusal = result.refusal;
  }
  if (result.reasoning !== undefined && result.reasoning !== '') {
    body.reasoning = result.reasoning;
  }
  if (result.thinkingBlocks !== undefined) {
    body.thinkingBlocks = result.thinkingBlocks;
  }
  if (result.citations !== undefined) {
    body.citations = result.citations;
  }
  if (result.searchResults !== undefined) {
    body.searchResults = result.searchResults;
  }
  if (result.serviceTier !== undefined) {
    body.serviceTier = result.serviceTier;
  }
  if (result.annotations !== undefined) {
    body.annotations = result.annotations;
  }
  return body;
}
