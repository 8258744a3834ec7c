import {
  ErrorCode,
  GatewayError,
  ROUTING_POLICIES,
  type ChatMessage,
  type ContentPart,
  type GenerationOptions,
  type GenerationRequest,
  type RoutingPolicy,
  type ThinkingBlock,
  withUnwrappedBase64,
} from '@aigw/core';
import type { ChatMessageDto, ThinkingBlockDto } from '../dto/chat-message.dto';

/** What every GenerationRequest carries besides what the client asked for. */
export interface RequestFrame {
  requestId: string;
  userId: string;
  apiKeyId: string;
  receivedAt: number;
  deadlineAt: number;
  /** From the `x-gateway-policy` header; a policy in the body takes precedence. */
  policy?: RoutingPolicy;
  /** From the `x-gateway-allow-fallback` header: a pinned `provider/model` may fall back to others. */
  allowFallback?: boolean;
}

export const POLICY_HEADER = 'x-gateway-policy';
export const ALLOW_FALLBACK_HEADER = 'x-gateway-allow-fallback';

/** `x-gateway-allow-fallback: true|false`; 400 naming the header for anything else. */
export function allowFallbackFromHeader(value: string | string[] | undefined): boolean | undefined {
  if (value === undefined || value === '') {
    return undefined;
  }
  if (value === 'true' || value === 'false') {
    return value === 'true';
  }
  throw new GatewayError(ErrorCode.InvalidRequest, `${ALLOW_FALLBACK_HEADER} must be true or false.`, {
    param: ALLOW_FALLBACK_HEADER,
  });
}

/** Routing choices a request may make in its body or headers; the body wins. */
export function applyRoutingChoices(
  request: GenerationRequest,
  body: { policy?: RoutingPolicy; allowFallback?: boolean },
  frame: RequestFrame,
): void {
  const policy = body.policy ?? frame.policy;
  if (policy !== undefined) {
    request.policy = policy;
  }
  const allowFallback = body.allowFallback ?? frame.allowFallback;
  if (allowFallback !== undefined) {
    request.allowFallback = allowFallback;
  }
}

/** The routing policy named by the `x-gateway-policy` header, if any; 400 naming the header when unknown. */
export function policyFromHeader(value: string | string[] | undefined): RoutingPolicy | undefined {
  if (value === undefined || value === '') {
    return undefined;
  }
  if (typeof value === 'string' && (ROUTING_POLICIES as readonly string[]).includes(value)) {
    return value as RoutingPolicy;
  }
  throw new GatewayError(ErrorCode.InvalidRequest, `${POLICY_HEADER} must be one of: ${ROUTING_POLICIES.join(', ')}.`, {
    param: POLICY_HEADER,
  });
}

/** Present and not null: clients send `null` to mean "default". */
export function isSet<T>(value: T | null | undefined): value is T {
  return value !== null && value !== undefined;
}

/**
 * An assistant message's refusal parts (OpenAI's history form of a declined answer) as the message's `refusal`, the
 * form every adapter knows: the OpenAI family sends it as the refusal it is, the others leave a refusal out as they
 * do the field. The other parts stay, in order; content with none left is null, as OpenAI gives a refusal.
 */
function withoutRefusalParts(m: ChatMessageDto): { content: ChatMessage['content']; refusal?: string } {
  const content = m.content ?? null;
  if (!Array.isArray(content) || !content.some((p) => p.type === 'refusal')) {
    return { content: content as ChatMessage['content'] };
  }
  const parts: ContentPart[] = [];
  let refusal = '';
  for (const p of content) {
    if (p.type === 'refusal') {
      refusal += p.refusal;
    } else {
      parts.push(p);
    }
  }
  return { content: parts.length > 0 ? parts : null, refusal };
}

/** Plain objects (not DTO instances) go into the job: only known fields, nothing class-transformer added. */
export function toChatMessage(m: ChatMessageDto): ChatMessage {
  const { content, refusal } = withoutRefusalParts(m);
  const message: ChatMessage = {
    role: m.role === 'developer' ? 'system' : m.role,
    // Line-wrapped base64 (the `base64` CLI's) is valid input; Claude and Gemini refuse it, so no adapter gets it.
    content: Array.isArray(content) ? content.map(withUnwrappedBase64) : content,
  };
  if (isSet(m.name)) {
    message.name = m.name;
  }
  if (isSet(m.tool_call_id)) {
    message.tool_call_id = m.tool_call_id;
  }
  if (isSet(m.tool_calls) && m.tool_calls.length > 0) {
    message.tool_calls = m.tool_calls.map((c) => ({
      id: c.id,
      type: 'function',
      function: { name: c.function.name, arguments: c.function.arguments },
    }));
  }
  if (isSet(m.refusal)) {
    message.refusal = m.refusal;
  } else if (refusal !== undefined) {
    message.refusal = refusal;
  }
  if (message.role === 'assistant' && isSet(m.thinking_blocks) && m.thinking_blocks.length > 0) {
    message.thinking_blocks = m.thinking_blocks.map(thinkingBlockOf);
  }
  return message;
}

/** Only the block's own fields (the DTO instance may carry others the client sent). */
function thinkingBlockOf(b: ThinkingBlockDto): ThinkingBlock {
  return b.type === 'thinking'
    ? { type: 'thinking', thinking: b.thinking ?? '', signature: b.signature ?? '' }
    : { type: 'redacted_thinking', data: b.data ?? '' };
}

export interface OptionFields {
  temperature?: number | null;
  maxTokens?: number | null;
  topP?: number | null;
  stop?: string | string[] | null;
}

/** Generation options with absent and null fields left out (clients send `null` for "default"). */
export function toOptions(f: OptionFields): GenerationOptions {
  const options: GenerationOptions = {};
  if (isSet(f.temperature)) {
    options.temperature = f.temperature;
  }
  if (isSet(f.maxTokens)) {
    options.maxTokens = f.maxTokens;
  }
  if (isSet(f.topP)) {
    options.topP = f.topP;
  }
  if (isSet(f.stop)) {
    options.stop = typeof f.stop === 'string' ? [f.stop] : f.stop;
  }
  return options;
}
