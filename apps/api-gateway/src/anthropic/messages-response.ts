import type { GenerationResult, JsonValue, ThinkingBlock, Usage } from '@aigw/core';

/*
 * The gateway's result → Anthropic's Message, and the pieces shared with the SSE encoder.
 */

export interface AnthropicUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
}

/** Anthropic counts cache reads and writes apart from `input_tokens`; the gateway's prompt tokens include them. */
export function anthropicUsage(u: Usage): AnthropicUsage {
  const cacheRead = u.cachedPromptTokens;
  const cacheWrite = u.cacheWritePromptTokens ?? 0;
  return {
    input_tokens: Math.max(0, u.promptTokens - cacheRead - cacheWrite),
    output_tokens: u.completionTokens,
    cache_creation_input_tokens: cacheWrite,
    cache_read_input_tokens: cacheRead,
  };
}

/**
 * The answer's stop reason in Anthropic's vocabulary. An Anthropic provider's own (`anthropicStopReason`) goes as it
 * came: `pause_turn`, `model_context_window_exceeded` and the like have no OpenAI finish reason to come back from.
 * Otherwise OpenAI's finish reasons are translated (the workers give no others; an answer cached by an older version
 * might: it ended, `end_turn`). An answer that names the stop
 * sequence it ended at (an Anthropic provider's) stopped at `stop_sequence`. An answer that ended normally with tool
 * calls is `tool_use` whatever the provider called it: OpenAI says `stop` when the request's tool_choice named the
 * function (so does vLLM), and Anthropic's clients run the tools, and loop, only on `tool_use`.
 */
export function stopReasonOf(
  finishReason: string | null,
  answer: Pick<GenerationResult, 'toolCalls' | 'stopSequence' | 'anthropicStopReason'>,
): string {
  if (answer.anthropicStopReason !== undefined) {
    return answer.anthropicStopReason;
  }
  if (answer.stopSequence !== undefined) {
    return 'stop_sequence';
  }
  const hasToolCalls = (answer.toolCalls?.length ?? 0) > 0;
  switch (finishReason) {
    case null:
      return hasToolCalls ? 'tool_use' : 'end_turn';
    case 'stop':
      return hasToolCalls ? 'tool_use' : 'end_turn';
    case 'length':
      return 'max_tokens';
    case 'tool_calls':
    case 'function_call':
      return 'tool_use';
    case 'content_filter':
      return 'refusal';
    default:
      return 'end_turn';
  }
}

/** Anthropic ids start `msg_`; an upstream's own id is kept after the prefix. */
export function messageIdOf(id: string): string {
  return id.startsWith('msg_') ? id : `msg_${id}`;
}

/**
 * A tool call's arguments as the object Anthropic clients expect. A model can write invalid JSON: it is kept under
 * `_raw_arguments` rather than dropped, so the client sees what the model said.
 */
export function toolInputOf(args: string): { [key: string]: JsonValue } {
  if (args.trim() === '') {
    return {};
  }
  try {
    const parsed = JSON.parse(args) as JsonValue;
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
      return parsed;
    }
  } catch {
    // Kept as text below.
  }
  return { _raw_arguments: args };
}

export type AnthropicContentBlock =
  | ThinkingBlock
  | { type: 'text'; text: string }
  | { type: 'tool_use'; id: string; name: string; input: { [key: string]: JsonValue } };

export interface AnthropicMessage {
  id: string;
  type: 'message';
  role: 'assistant';
  model: string;
  content: AnthropicContentBlock[];
  stop_reason: string;
  stop_sequence: string | null;
  usage: AnthropicUsage;
}

/** `model` is the deployment that answered (`provider/model`), as on every endpoint. */
export function anthropicMessageBody(result: GenerationResult): AnthropicMessage {
  const content: AnthropicContentBlock[] = [];
  if (result.thinkingBlocks !== undefined) {
    // Anthropic's own blocks, signatures included: the client sends them back with the tool results.
    content.push(...result.thinkingBlocks);
  } else if (result.reasoning !== undefined && result.reasoning !== '') {
    // Another family's reasoning has no signature; sent back, it is left out of what goes to Anthropic.
    content.push({ type: 'thinking', thinking: result.reasoning, signature: '' });
  }
  const text = result.text !== '' ? result.text : (result.refusal ?? '');
  const toolCalls = result.toolCalls ?? [];
  // An answer without text has no text block: Anthropic's API answers an empty turn with `content: []` (its docs on
  // stop reasons), and the stream (messages-sse.ts) opens no block for it either.
  if (text !== '') {
    content.push({ type: 'text', text });
  }
  for (const call of toolCalls) {
    content.push({
      type: 'tool_use',
      id: call.id,
      name: call.function.name,
      input: toolInputOf(call.function.arguments),
    });
  }
  return {
    id: messageIdOf(result.id),
    type: 'message',
    role: 'assistant',
    model: `${result.provider}/${result.model}`,
    content,
    stop_reason: stopReasonOf(result.finishReason, result),
    stop_sequence: result.stopSequence ?? null,
    usage: anthropicUsage(result.usage),
  };
}
