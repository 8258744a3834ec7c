import {
  ANSWER_NEUTRAL_FIELDS,
  ErrorClass,
  type CacheControl,
  ProviderCallError,
  dataUrlOf,
  plainTextOf,
  type ChatMessage,
  isBlankStop,
  oneSamplingFieldOf,
  takesOneSamplingField,
  type ContentPart,
  type FunctionTool,
  type GenerationOptions,
  type JsonValue,
  type ReasoningEffort,
  type ThinkingBlock,
  type ToolCall,
  type ToolChoice,
} from '@aigw/core';
import { knownFinishReason } from '../content/finish-reason';
import { rewrittenToolCallId } from '../content/tool-call-id';
import { isSigned, thinkingChecked, unsupported } from './claude-limits';
import { idWithoutSignature } from '../gemini/thought-signature';
import type { AdapterRequest } from '../types';

/**
 * Anthropic requires `max_tokens`; this is what a request that does not set it gets (OpenAI's API has no such limit,
 * so it should rarely cut an answer): the largest every Claude model takes (Claude 3 Haiku and Opus stop at 4,096),
 * and the allowance admission reserves by default (QUOTA_DEFAULT_MAX_TOKENS).
 */
export const DEFAULT_ANTHROPIC_MAX_TOKENS = 4096;

export type AnthropicImageSource = { type: 'base64'; media_type: string; data: string } | { type: 'url'; url: string };
/** A PDF as base64, a plain-text document as its text: the two inline document sources the Messages API takes. */
export type AnthropicDocumentSource =
  | { type: 'base64'; media_type: 'application/pdf'; data: string }
  | { type: 'text'; media_type: 'text/plain'; data: string };
export type AnthropicBlock =
  | { type: 'text'; text: string; cache_control?: CacheControl }
  | { type: 'image'; source: AnthropicImageSource; cache_control?: CacheControl }
  | { type: 'document'; source: AnthropicDocumentSource; title?: string; cache_control?: CacheControl }
  | { type: 'tool_use'; id: string; name: string; input: JsonValue; cache_control?: CacheControl }
  | {
      type: 'tool_result';
      tool_use_id: string;
      content: string | AnthropicBlock[];
      is_error?: boolean;
      cache_control?: CacheControl;
    }
  | ThinkingBlock;

export interface AnthropicMessage {
  role: 'user' | 'assistant';
  content: string | AnthropicBlock[];
}

export interface AnthropicPrompt {
  /** Text, or text blocks when the client marked a prompt-cache breakpoint in it. */
  system?: string | AnthropicBlock[];
  messages: AnthropicMessage[];
}

function imageSource(url: string): AnthropicImageSource {
  const data = dataUrlOf(url);
  return data === null ? { type: 'url', url } : { type: 'base64', media_type: data.mimeType, data: data.base64 };
}

/**
 * OpenAI's `file` part (`file_data`, a data URL) as a document block: a PDF as it is, plain text decoded (Anthropic
 * takes a text document as text). The file name, which OpenAI's part carries for the model, is the document's title.
 * A `file_id` names a file uploaded to OpenAI, which Claude cannot read, as are other types.
 */
function documentOf(part: Extract<ContentPart, { type: 'file' }>): AnthropicBlock {
  const file = part.file;
  const text = file.file_data === undefined ? undefined : plainTextOf(file.file_data);
  const data = text !== undefined || file.file_data === undefined ? null : dataUrlOf(file.file_data);
  let source: AnthropicDocumentSource;
  if (text !== undefined) {
    source = { type: 'text', media_type: 'text/plain', data: text };
  } else if (data?.mimeType === 'application/pdf') {
    source = { type: 'base64', media_type: 'application/pdf', data: data.base64 };
  } else {
    throw unsupported(
      data === null
        ? 'file parts without file_data (a file_id names a file uploaded to another provider)'
        : `'${data.mimeType}' files (only application/pdf and text/plain)`,
    );
  }
  const block: AnthropicBlock = { type: 'document', source };
  if (file.filename !== undefined && file.filename !== '') {
    block.title = file.filename;
  }
  if (part.cache_control !== undefined) {
    block.cache_control = part.cache_control;
  }
  return block;
}

function blocksOf(parts: ContentPart[]): AnthropicBlock[] {
  const blocks: AnthropicBlock[] = [];
  for (const p of parts) {
    switch (p.type) {
      case 'text':
        // Anthropic rejects empty text blocks.
        if (p.text.length > 0) {
          blocks.push(
            p.cache_control === undefined
              ? { type: 'text', text: p.text }
              : { type: 'text', text: p.text, cache_control: p.cache_control },
          );
        }
        break;
      case 'image_url': {
        const source = imageSource(p.image_url.url);
        blocks.push(
          p.cache_control === undefined
            ? { type: 'image', source }
            : { type: 'image', source, cache_control: p.cache_control },
        );
        break;
      }
      case 'file':
        blocks.push(documentOf(p));
        break;
      case 'input_audio':
        throw unsupported(`${p.type} content parts`);
    }
  }
  return blocks;
}

const ANTHROPIC_TOOL_ID = /^[a-zA-Z0-9_-]+$/;

/**
 * Anthropic takes tool_use ids of `[a-zA-Z0-9_-]` only; other families' ids may hold more (Kimi's
 * `functions.get_weather:0`), and a conversation can move between families (fallback, aliases). Such an id is
 * rewritten the same way in its tool_use and its tool_result: the other characters as `_`, plus a hash of the id so
 * two ids never become one. A few microseconds for an id that needs it; the others are only tested.
 */
function anthropicToolId(signed: string): string {
  // A Gemini thought signature riding in the id (gemini/thought-signature.ts) is Gemini's alone.
  const id = idWithoutSignature(signed);
  if (ANTHROPIC_TOOL_ID.test(id)) {
    return id;
  }
  return rewrittenToolCallId(id.replace(/[^a-zA-Z0-9_-]/g, '_'), id);
}

/** Tool arguments are JSON text in OpenAI's format and a JSON object in Anthropic's. */
function toolInput(call: ToolCall): JsonValue {
  if (call.function.arguments.trim() === '') {
    return {};
  }
  try {
    return JSON.parse(call.function.arguments) as JsonValue;
  } catch (err) {
    throw new ProviderCallError(
      ErrorClass.InvalidRequest,
      `tool call ${call.id} has arguments that are not JSON; Anthropic needs them as an object`,
      { cause: err, untranslatable: true },
    );
  }
}

/**
 * The signed thinking of an earlier answer goes back first in its turn, unchanged (Anthropic checks the signature and
 * needs it before the tool_use blocks of a turn whose results follow). A block without a signature came from
 * another family and cannot be verified: it is left out, as Anthropic would refuse it.
 */
function signedThinkingOf(m: ChatMessage): AnthropicBlock[] {
  const out: AnthropicBlock[] = [];
  for (const b of m.thinking_blocks ?? []) {
    if (isSigned(b)) {
      out.push(b);
    }
  }
  return out;
}

function assistantContent(m: ChatMessage): string | AnthropicBlock[] {
  const content = m.content === null ? '' : typeof m.content === 'string' ? m.content : blocksOf(m.content);
  const thinking = signedThinkingOf(m);
  const calls = m.tool_calls ?? [];
  if (calls.length === 0 && thinking.length === 0) {
    return content;
  }
  const uses: AnthropicBlock[] = calls.map((c) => {
    const use: AnthropicBlock = {
      type: 'tool_use',
      id: anthropicToolId(c.id),
      name: c.function.name,
      input: toolInput(c),
    };
    if (c.cache_control !== undefined) {
      use.cache_control = c.cache_control;
    }
    return use;
  });
  return [...thinking, ...asBlocks(content), ...uses];
}

/** A tool message is a user turn holding a tool_result block for the call it answers. */
function toolResult(m: ChatMessage): AnthropicBlock[] {
  const content = m.content === null ? '' : typeof m.content === 'string' ? m.content : blocksOf(m.content);
  const tool_use_id = anthropicToolId(m.tool_call_id ?? '');
  const block: AnthropicBlock = { type: 'tool_result', tool_use_id, content };
  if (m.is_error === true) {
    block.is_error = true;
  }
  if (m.cache_control !== undefined) {
    block.cache_control = m.cache_control;
  }
  return [block];
}

function textOf(content: ChatMessage['content']): string {
  if (content === null) {
    return '';
  }
  if (typeof content === 'string') {
    return content;
  }
  let text = '';
  for (const p of content) {
    if (p.type === 'text' && p.text.length > 0) {
      text = text.length === 0 ? p.text : `${text}\n${p.text}`;
    }
  }
  return text;
}

function asBlocks(content: string | AnthropicBlock[]): AnthropicBlock[] {
  if (typeof content !== 'string') {
    return content;
  }
  return content.length > 0 ? [{ type: 'text', text: content }] : [];
}

function merge(a: string | AnthropicBlock[], b: string | AnthropicBlock[]): string | AnthropicBlock[] {
  if (typeof a === 'string' && typeof b === 'string') {
    if (a.length === 0) {
      return b;
    }
    return b.length === 0 ? a : `${a}\n\n${b}`;
  }
  return [...asBlocks(a), ...asBlocks(b)];
}

/**
 * OpenAI-style messages to the Messages API: system messages (wherever they are) become the top-level `system`;
 * assistant tool calls become tool_use blocks and `tool` messages tool_result blocks of a user turn; consecutive
 * messages of one role are merged because Anthropic requires user/assistant alternation (parallel tool results
 * thus share one user turn, as Anthropic expects).
 */
export function toAnthropicPrompt(messages: ChatMessage[]): AnthropicPrompt {
  let system: string | AnthropicBlock[] | undefined;
  const out: AnthropicMessage[] = [];
  for (const m of messages) {
    if (m.role === 'system') {
      // Text, unless the client marked a prompt-cache breakpoint in it: then its blocks, where the mark is.
      const marked =
        Array.isArray(m.content) && m.content.some((p) => 'cache_control' in p && p.cache_control !== undefined);
      const text = marked && Array.isArray(m.content) ? blocksOf(m.content) : textOf(m.content);
      if (text.length > 0) {
        system = system === undefined ? text : merge(system, text);
      }
      continue;
    }
    const role = m.role === 'assistant' ? 'assistant' : 'user';
    const content =
      m.role === 'assistant'
        ? assistantContent(m)
        : m.role === 'tool'
          ? toolResult(m)
          : m.content === null
            ? ''
            : typeof m.content === 'string'
              ? m.content
              : blocksOf(m.content);
    if (content.length === 0) {
      // Anthropic refuses empty content (an OpenAI assistant turn of `content: null` or a refusal only): a turn
      // that says nothing is left out, and its neighbours of one role merge as usual.
      continue;
    }
    const last = out.length > 0 ? out[out.length - 1] : undefined;
    if (last !== undefined && last.role === role) {
      last.content = merge(last.content, content);
    } else {
      out.push({ role, content });
    }
  }
  return system === undefined ? { messages: out } : { system, messages: out };
}

interface AnthropicTool {
  name: string;
  description?: string;
  input_schema: JsonValue;
  cache_control?: CacheControl;
}

type AnthropicToolChoice =
  | { type: 'auto' | 'any' | 'none'; disable_parallel_tool_use?: boolean }
  | { type: 'tool'; name: string; disable_parallel_tool_use?: boolean };

function toolsOf(tools: FunctionTool[] | undefined): AnthropicTool[] | undefined {
  if (tools === undefined || tools.length === 0) {
    return undefined;
  }
  return tools.map((t) => {
    const tool: AnthropicTool = {
      name: t.function.name,
      // Anthropic requires a schema; a function without parameters takes an empty object.
      input_schema: t.function.parameters ?? { type: 'object', properties: {} },
    };
    if (t.function.description !== undefined) {
      tool.description = t.function.description;
    }
    if (t.cache_control !== undefined) {
      tool.cache_control = t.cache_control;
    }
    return tool;
  });
}

/**
 * Anthropic refuses a request whose history holds tool_use or tool_result blocks without `tools` ("Requests which
 * include `tool_use` or `tool_result` blocks must define tools"), which OpenAI takes: agents send their history
 * without tools to summarise or compact it, or for a last answer in text. Such a request declares the functions its
 * history called (named only, any input) with tool_choice `none`, so that, as in OpenAI's request, no tool can be
 * called. Undefined when the history called none.
 */
function calledToolsOf(messages: readonly ChatMessage[]): AnthropicTool[] | undefined {
  let names: Set<string> | undefined;
  for (const m of messages) {
    for (const call of m.tool_calls ?? []) {
      (names ??= new Set()).add(call.function.name);
    }
  }
  if (names === undefined) {
    return undefined;
  }
  return [...names].map((name) => ({ name, input_schema: { type: 'object', properties: {} } }));
}

/** OpenAI's `required` is Anthropic's `any`; `parallel_tool_calls: false` is a flag of the choice. */
export function toolChoiceOf(o: GenerationOptions): AnthropicToolChoice | undefined {
  const choice: ToolChoice | undefined = o.toolChoice;
  let out: AnthropicToolChoice | undefined;
  if (choice === undefined) {
    out = o.parallelToolCalls === false ? { type: 'auto' } : undefined;
  } else if (typeof choice === 'string') {
    out = { type: choice === 'required' ? 'any' : choice };
  } else {
    out = { type: 'tool', name: choice.function.name };
  }
  if (out !== undefined && o.parallelToolCalls === false && out.type !== 'none') {
    out.disable_parallel_tool_use = true;
  }
  return out;
}

/** Who asked, for Anthropic's abuse monitoring: `user`, else OpenAI's newer name for it, `safety_identifier`. */
function endUserOf(o: GenerationOptions): string | undefined {
  const safetyIdentifier = o.extra?.safety_identifier;
  return o.user ?? (typeof safetyIdentifier === 'string' && safetyIdentifier !== '' ? safetyIdentifier : undefined);
}

/** The Messages API takes temperatures from 0 to 1 (OpenAI's go to 2). */
const ANTHROPIC_MAX_TEMPERATURE = 1;

/** Options the Messages API cannot express. Routing keeps such requests away; this is the backstop. */
function assertTranslatable(o: GenerationOptions): void {
  const unsupportedFields: [string, unknown][] = [
    ['response_format', o.responseFormat?.type === 'text' ? undefined : o.responseFormat],
    ['seed', o.seed],
    ['presence_penalty', o.presencePenalty],
    ['frequency_penalty', o.frequencyPenalty],
    ['logit_bias', o.logitBias],
    ['logprobs', o.logprobs],
    ['top_logprobs', o.topLogprobs],
  ];
  for (const [name, value] of unsupportedFields) {
    if (value !== undefined) {
      throw unsupported(`'${name}'`, name);
    }
  }
  if (o.temperature !== undefined && o.temperature > ANTHROPIC_MAX_TEMPERATURE) {
    throw unsupported(`'temperature' above ${ANTHROPIC_MAX_TEMPERATURE}`, 'temperature');
  }
  if (o.stop?.some(isBlankStop) === true) {
    throw unsupported("'stop' with a sequence of whitespace only", 'stop');
  }
  const extra = Object.keys(o.extra ?? {}).find((key) => !ANSWER_NEUTRAL_FIELDS.has(key));
  if (extra !== undefined) {
    throw unsupported(`'${extra}'`, extra);
  }
}

/**
 * `temperature` and `top_p` as Claude takes them. A model that takes only one (`takesOneSamplingField`: Opus 4.1, the
 * 4.5 generation and later) gets the one that changes the sampling, a `top_p` of 1 or a `temperature` of 1 beside the
 * other left out (`oneSamplingFieldOf`); both meaningful are refused before sending, the backstop of routing, which
 * keeps such a request away from these models (`refusesTemperatureWithTopP`). `/v1/messages` requests are treated the
 * same: Anthropic's own API refuses both too, and what is left out changes nothing. The model id is read only when
 * both are set (one regular-expression test).
 */
function samplingOf(model: string, o: GenerationOptions): { temperature?: number; topP?: number } {
  if (o.temperature === undefined || o.topP === undefined || !takesOneSamplingField(model)) {
    return { temperature: o.temperature, topP: o.topP };
  }
  const one = oneSamplingFieldOf(o.temperature, o.topP);
  if (one.temperature !== undefined && one.topP !== undefined) {
    throw unsupported(`'temperature' together with 'top_p' for ${model} (it takes one or the other)`, 'top_p');
  }
  return one;
}

type ThinkingParam = ({ type: 'enabled'; budget_tokens: number } | { type: 'adaptive' }) & {
  display?: 'summarized' | 'omitted';
};

/** The smallest thinking budget the Messages API takes. */
export const MIN_THINKING_BUDGET = 1024;

/**
 * A reasoning effort as a thinking budget. The levels sit inside the budget ranges the `/v1/messages` endpoint
 * reads back as the same effort (below 4,096 low, below 16,384 medium, else high), so an effort survives the trip.
 */
const THINKING_BUDGET: { readonly [E in Exclude<ReasoningEffort, 'none'>]: number } = {
  minimal: MIN_THINKING_BUDGET,
  low: 2048,
  medium: 8192,
  high: 16384,
  xhigh: 32768,
};

/**
 * Extended thinking and the `max_tokens` that goes with it (Anthropic's `max_tokens` counts thinking too, as OpenAI's
 * `max_completion_tokens` counts reasoning). A named budget is sent as it is. An effort's budget is cut to fit under
 * the client's `max_tokens`, at least the API's minimum; without a `max_tokens` the answer gets the usual default on
 * top of the budget. `none` (or no effort) asks for no thinking. Adaptive thinking has no budget; a `display` the
 * client named goes with either.
 */

export function thinkingParamOf(o: GenerationOptions): { thinking?: ThinkingParam; maxTokens: number } {
  const out = thinkingOf(o);
  if (out.thinking !== undefined && o.thinkingDisplay !== undefined) {
    out.thinking.display = o.thinkingDisplay;
  }
  return out;
}

function thinkingOf(o: GenerationOptions): { thinking?: ThinkingParam; maxTokens: number } {
  const effort = o.reasoningEffort;
  if (effort === undefined || effort === 'none') {
    return { maxTokens: o.maxTokens ?? DEFAULT_ANTHROPIC_MAX_TOKENS };
  }
  if (o.adaptiveThinking === true) {
    // The model decides how much to think, within the answer's `max_tokens`: no budget to fit under it.
    return { thinking: { type: 'adaptive' }, maxTokens: o.maxTokens ?? DEFAULT_ANTHROPIC_MAX_TOKENS };
  }
  let budget = o.reasoningBudget ?? THINKING_BUDGET[effort];
  if (o.maxTokens === undefined) {
    return { thinking: { type: 'enabled', budget_tokens: budget }, maxTokens: budget + DEFAULT_ANTHROPIC_MAX_TOKENS };
  }
  if (o.reasoningBudget === undefined) {
    budget = Math.min(budget, o.maxTokens - 1);
  }
  if (budget < MIN_THINKING_BUDGET || budget >= o.maxTokens) {
    throw unsupported(
      `'reasoning_effort' with a token limit of ${o.maxTokens}: thinking needs a budget of at least ${MIN_THINKING_BUDGET} tokens below the limit`,
      'reasoning_effort',
    );
  }
  return { thinking: { type: 'enabled', budget_tokens: budget }, maxTokens: o.maxTokens };
}

/**
 * Request body for `POST /v1/messages`. Extended thinking goes as `thinkingChecked` lets it, the check the OpenAI wire
 * makes for Claude behind a gateway too: what Claude refuses with thinking on is refused before sending, and a
 * `reasoning_effort` alone (the OpenAI endpoint) on a tool loop whose assistant turn came back without its
 * `thinking_blocks` goes without thinking. `service_tier` is Anthropic's, sent only by `/v1/messages` clients.
 */
export function anthropicBody(req: AdapterRequest, stream: boolean): string {
  assertTranslatable(req.options);
  const o = thinkingChecked(req.messages, req.options);
  const thinking = thinkingParamOf(o);
  const sampling = samplingOf(req.target.model, o);
  const prompt = toAnthropicPrompt(req.messages);
  if (prompt.messages.length === 0) {
    // OpenAI answers a system prompt alone, or an empty message; Claude needs a turn with content. Refused before
    // sending, so routing can move on to a family that takes it, and the 400 names the field when none does.
    throw unsupported(
      'a conversation without a user or assistant message with content (a system prompt alone, or empty messages)',
      'messages',
    );
  }
  const offered = toolsOf(o.tools);
  const tools = offered ?? calledToolsOf(req.messages);
  const user = endUserOf(o);
  return JSON.stringify({
    model: req.target.model,
    max_tokens: thinking.maxTokens,
    thinking: thinking.thinking,
    system: prompt.system,
    messages: prompt.messages,
    temperature: sampling.temperature,
    top_p: sampling.topP,
    top_k: o.topK,
    stop_sequences: o.stop !== undefined && o.stop.length > 0 ? o.stop : undefined,
    tools,
    // Anthropic rejects a tool_choice without tools (OpenAI accepts `auto` and `none` alone). Tools declared only
    // for the history are not offered: none of them may be called.
    tool_choice: tools === undefined ? undefined : offered === undefined ? { type: 'none' } : toolChoiceOf(o),
    metadata: user === undefined ? undefined : { user_id: user },
    service_tier: o.anthropicServiceTier,
    stream: stream ? true : undefined,
  });
}

/**
 * An Anthropic stop reason worth passing on to a /v1/messages client as it came (`anthropicStopReason`): a word of
 * Anthropic's vocabulary, not whatever text an Anthropic-compatible server put there.
 */
export function nativeStopReasonOf(stopReason: string | null | undefined): string | undefined {
  return typeof stopReason === 'string' && /^[a-z][a-z_]{0,63}$/.test(stopReason) ? stopReason : undefined;
}

/**
 * Anthropic stop reasons in OpenAI's finish-reason vocabulary. A word outside Anthropic's is read as the OpenAI family
 * reads it (`knownFinishReason`): Amazon Bedrock's `guardrail_intervened` (its guardrail stopped Claude's answer, in
 * `message_delta` as in Converse) is `content_filter`; any other unknown one ended the answer: `stop`. `pause_turn`
 * (Anthropic paused a long turn of server tools; sent back, the turn goes on) is `stop`, as other SDKs map it: what
 * came is a whole answer so far, and `length` would tell the client to raise a budget that was not the cause.
 */
export function finishReasonOf(stopReason: string | null | undefined): string | null {
  switch (stopReason) {
    case undefined:
    case null:
      return null;
    case 'end_turn':
    case 'stop_sequence':
    case 'pause_turn':
      return 'stop';
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default:
      return knownFinishReason(stopReason) ?? 'stop';
  }
}
