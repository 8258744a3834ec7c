import {
  ErrorCode,
  GatewayError,
  isBase64,
  isRemoteImageUrl,
  toolIndexOfParam,
  unwrappedBase64,
  type CacheControl,
  type ChatMessage,
  type ContentPart,
  type FunctionTool,
  type GenerationOptions,
  type GenerationRequest,
  type ReasoningEffort,
  type ThinkingBlock,
  type ToolCall,
} from '@aigw/core';
import { applyRoutingChoices, isSet, type RequestFrame } from '../generation/request-frame';
import { FUNCTION_NAME, TOOL_CALL_ID } from '../validation/openai-fields';
import { invalidParam } from '../validation/validation-errors';
import { isRecord } from '../validation/validators';
import { MESSAGES_FIELDS, type AnthropicBlock, type AnthropicToolChoice, type MessagesDto } from './messages.dto';

/*
 * Anthropic Messages → the gateway's request (OpenAI-shaped messages), checking every content block on the way and
 * naming the exact path of the first problem. Runs before anything is enqueued.
 */

const IMAGE_TYPES: ReadonlySet<unknown> = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp']);

function unsupported(param: string, message: string): GatewayError {
  return new GatewayError(ErrorCode.UnsupportedParameter, `'${param}' is not supported: ${message}.`, { param });
}

function blockAt(v: unknown, at: string): AnthropicBlock {
  if (!isRecord(v) || typeof v.type !== 'string') {
    throw invalidParam(at, 'must be a content block object with a type');
  }
  return v as AnthropicBlock;
}

function textOf(b: AnthropicBlock, at: string): string {
  if (typeof b.text !== 'string') {
    throw invalidParam(`${at}.text`, 'must be a string');
  }
  return b.text;
}

/**
 * A prompt-cache breakpoint (`cache_control`) as the client set it: Claude deployments get it where it was (prompt
 * caching bills cached input at a tenth), other families none.
 */
function cacheControlOf(cc: unknown, at: string): CacheControl | undefined {
  if (cc === undefined || cc === null) {
    return undefined;
  }
  if (!isRecord(cc) || typeof cc.type !== 'string' || (cc.ttl !== undefined && typeof cc.ttl !== 'string')) {
    throw invalidParam(`${at}.cache_control`, "must be an object such as {type: 'ephemeral'}");
  }
  return cc.ttl === undefined ? { type: cc.type } : { type: cc.type, ttl: cc.ttl };
}

function textPart(b: AnthropicBlock, at: string): ContentPart {
  const text = textOf(b, at);
  const cacheControl = cacheControlOf(b.cache_control, at);
  return cacheControl === undefined ? { type: 'text', text } : { type: 'text', text, cache_control: cacheControl };
}

function isMarked(p: ContentPart): boolean {
  return 'cache_control' in p && p.cache_control !== undefined;
}

/** Base64 sources become data URLs, URL sources stay URLs: the shapes every adapter translates from. */
function imagePart(b: AnthropicBlock, at: string): ContentPart {
  const part = imageUrlPart(b, at);
  const cacheControl = cacheControlOf(b.cache_control, at);
  return cacheControl === undefined ? part : Object.assign(part, { cache_control: cacheControl });
}

function imageUrlPart(b: AnthropicBlock, at: string): ContentPart & { type: 'image_url' } {
  const source = b.source;
  if (!isRecord(source)) {
    throw invalidParam(`${at}.source`, 'must be an object');
  }
  if (source.type === 'base64') {
    if (!IMAGE_TYPES.has(source.media_type)) {
      throw invalidParam(`${at}.source.media_type`, `must be one of ${[...IMAGE_TYPES].join(', ')}`);
    }
    if (typeof source.data !== 'string' || !isBase64(source.data)) {
      throw invalidParam(`${at}.source.data`, 'must be base64 image data');
    }
    return {
      type: 'image_url',
      image_url: { url: `data:${String(source.media_type)};base64,${unwrappedBase64(source.data)}` },
    };
  }
  if (source.type === 'url') {
    if (typeof source.url !== 'string' || !isRemoteImageUrl(source.url)) {
      throw invalidParam(`${at}.source.url`, 'must be an http(s) URL');
    }
    return { type: 'image_url', image_url: { url: source.url } };
  }
  throw invalidParam(`${at}.source.type`, "must be 'base64' or 'url'");
}

/** Fields of a document block the gateway carries; `citations` and `context` change the answer's shape or prompt. */
const DOCUMENT_FIELDS: ReadonlySet<string> = new Set(['type', 'source', 'title', 'cache_control']);

/**
 * A PDF (base64) or plain-text document block as OpenAI's `file` part, whose `file_data` data URL every family's
 * adapter reads (Claude: a document block again; Gemini: inlineData; the OpenAI family as it is). The title is the
 * file's name. A document by URL or by Files API id names nothing the other families can read.
 */
function documentPart(b: AnthropicBlock, at: string): ContentPart {
  const extra = Object.keys(b).find((key) => !DOCUMENT_FIELDS.has(key));
  if (extra !== undefined) {
    throw unsupported(
      `${at}.${extra}`,
      'document blocks carry source, title and cache_control only through the gateway',
    );
  }
  const source = b.source;
  if (!isRecord(source)) {
    throw invalidParam(`${at}.source`, 'must be an object');
  }
  let fileData: string;
  if (source.type === 'base64') {
    if (source.media_type !== 'application/pdf') {
      throw invalidParam(`${at}.source.media_type`, "must be 'application/pdf'");
    }
    if (typeof source.data !== 'string' || !isBase64(source.data)) {
      throw invalidParam(`${at}.source.data`, 'must be base64 PDF data');
    }
    fileData = `data:application/pdf;base64,${unwrappedBase64(source.data)}`;
  } else if (source.type === 'text') {
    if (source.media_type !== 'text/plain') {
      throw invalidParam(`${at}.source.media_type`, "must be 'text/plain'");
    }
    if (typeof source.data !== 'string') {
      throw invalidParam(`${at}.source.data`, 'must be a string');
    }
    fileData = `data:text/plain;base64,${Buffer.from(source.data, 'utf8').toString('base64')}`;
  } else {
    throw unsupported(`${at}.source.type`, "documents go through the gateway as 'base64' (PDF) or 'text' sources only");
  }
  if (b.title !== undefined && b.title !== null && typeof b.title !== 'string') {
    throw invalidParam(`${at}.title`, 'must be a string');
  }
  const part: ContentPart = { type: 'file', file: { file_data: fileData } };
  if (typeof b.title === 'string' && b.title !== '') {
    part.file.filename = b.title;
  }
  const cacheControl = cacheControlOf(b.cache_control, at);
  if (cacheControl !== undefined) {
    part.cache_control = cacheControl;
  }
  return part;
}

/**
 * A tool result's content: its text, or, when it holds images (a screenshot tool's) or documents (a PDF a file-reading
 * tool read), its text, image and file parts, which each family's adapter places where that family takes them
 * (Anthropic: in the tool_result; Gemini: after the functionResponse; the OpenAI family: in a user turn after the tool
 * messages).
 */
function toolResultContent(b: AnthropicBlock, at: string): string | ContentPart[] {
  const content = b.content;
  if (content === undefined || content === null) {
    return '';
  }
  if (typeof content === 'string') {
    return content;
  }
  if (!Array.isArray(content)) {
    throw invalidParam(`${at}.content`, 'must be a string or a list of text and image blocks');
  }
  const parts = content.map((item, k): ContentPart => {
    const here = `${at}.content[${k}]`;
    const inner = blockAt(item, here);
    if (inner.type === 'text') {
      return textPart(inner, here);
    }
    if (inner.type === 'image') {
      return imagePart(inner, here);
    }
    if (inner.type === 'document') {
      return documentPart(inner, here);
    }
    throw unsupported(here, 'tool results can carry text, image and document blocks only through the gateway');
  });
  if (parts.every((p) => p.type === 'text' && !isMarked(p))) {
    return parts.map((p) => (p.type === 'text' ? p.text : '')).join('\n');
  }
  return parts;
}

function blocksOf(content: string | AnthropicBlock[], at: string): AnthropicBlock[] {
  return typeof content === 'string'
    ? [{ type: 'text', text: content }]
    : content.map((b, j) => blockAt(b, `${at}[${j}]`));
}

/** A user turn: its tool results become `tool` messages (first, answering the previous turn), the rest one user message. */
function userMessages(content: string | AnthropicBlock[], at: string, calls: ReadonlySet<string>): ChatMessage[] {
  if (typeof content === 'string') {
    return [{ role: 'user', content }];
  }
  const results: ChatMessage[] = [];
  const parts: ContentPart[] = [];
  blocksOf(content, at).forEach((b, j) => {
    const here = `${at}[${j}]`;
    switch (b.type) {
      case 'text':
        parts.push(textPart(b, here));
        return;
      case 'image':
        parts.push(imagePart(b, here));
        return;
      case 'document':
        parts.push(documentPart(b, here));
        return;
      case 'tool_result': {
        const id = b.tool_use_id;
        if (typeof id !== 'string' || id === '') {
          throw invalidParam(`${here}.tool_use_id`, 'must be the id of a tool_use block');
        }
        if (!calls.has(id)) {
          throw invalidParam(
            `${here}.tool_use_id`,
            `'${id}' matches no tool_use block of an earlier assistant message`,
          );
        }
        if (b.is_error !== undefined && typeof b.is_error !== 'boolean') {
          throw invalidParam(`${here}.is_error`, 'must be a boolean');
        }
        const result = toolResultContent(b, here);
        const message: ChatMessage = { role: 'tool', tool_call_id: id, content: result };
        if (b.is_error === true) {
          // Claude gets the flag as sent; the other families read it from the text (toolResultContent).
          message.is_error = true;
        }
        const cacheControl = cacheControlOf(b.cache_control, here);
        if (cacheControl !== undefined) {
          message.cache_control = cacheControl;
        }
        results.push(message);
        return;
      }
      default:
        throw unsupported(`${here}.type`, `'${b.type}' blocks cannot be sent in a user message through the gateway`);
    }
  });
  if (parts.length === 0) {
    return results;
  }
  const single = parts.length === 1 && parts[0].type === 'text' && !isMarked(parts[0]) ? parts[0].text : null;
  return [...results, { role: 'user', content: single ?? parts }];
}

/**
 * A thinking block sent back as it came: its text and signature (Anthropic verifies them), or a redacted block's
 * data.
 */
function thinkingBlockOf(b: AnthropicBlock, here: string): ThinkingBlock {
  if (b.type === 'redacted_thinking') {
    if (typeof b.data !== 'string') {
      throw invalidParam(`${here}.data`, 'must be a string');
    }
    return { type: 'redacted_thinking', data: b.data };
  }
  if (typeof b.thinking !== 'string') {
    throw invalidParam(`${here}.thinking`, 'must be a string');
  }
  if (typeof b.signature !== 'string') {
    throw invalidParam(`${here}.signature`, 'must be a string');
  }
  return { type: 'thinking', thinking: b.thinking, signature: b.signature };
}

/**
 * An assistant turn: its text, tool_use blocks and thinking blocks (these go back to Anthropic deployments only; no
 * other family takes them).
 */
function assistantMessage(content: string | AnthropicBlock[], at: string, calls: Set<string>): ChatMessage {
  if (typeof content === 'string') {
    return { role: 'assistant', content };
  }
  const texts: ContentPart[] = [];
  const toolCalls: ToolCall[] = [];
  const thinking: ThinkingBlock[] = [];
  blocksOf(content, at).forEach((b, j) => {
    const here = `${at}[${j}]`;
    switch (b.type) {
      case 'text':
        texts.push(textPart(b, here));
        return;
      case 'tool_use': {
        if (typeof b.id !== 'string' || !TOOL_CALL_ID.test(b.id)) {
          throw invalidParam(`${here}.id`, 'must be a non-empty id without spaces');
        }
        if (typeof b.name !== 'string' || !FUNCTION_NAME.test(b.name)) {
          throw invalidParam(`${here}.name`, 'must be 1-64 letters, digits, _ or -');
        }
        if (!isRecord(b.input)) {
          throw invalidParam(`${here}.input`, 'must be an object');
        }
        calls.add(b.id);
        const call: ToolCall = {
          id: b.id,
          type: 'function',
          function: { name: b.name, arguments: JSON.stringify(b.input) },
        };
        const cacheControl = cacheControlOf(b.cache_control, here);
        if (cacheControl !== undefined) {
          call.cache_control = cacheControl;
        }
        toolCalls.push(call);
        return;
      }
      case 'thinking':
      case 'redacted_thinking':
        thinking.push(thinkingBlockOf(b, here));
        return;
      default:
        throw unsupported(
          `${here}.type`,
          `'${b.type}' blocks cannot be sent in an assistant message through the gateway`,
        );
    }
  });
  // Text, or its parts when the client marked a prompt-cache breakpoint in it.
  const message: ChatMessage = {
    role: 'assistant',
    content:
      texts.length === 0
        ? null
        : texts.some(isMarked)
          ? texts
          : texts.map((p) => (p.type === 'text' ? p.text : '')).join(''),
  };
  if (toolCalls.length > 0) {
    message.tool_calls = toolCalls;
  }
  if (thinking.length > 0) {
    message.thinking_blocks = thinking;
  }
  return message;
}

/** The system prompt: text, or its text parts when the client marked a prompt-cache breakpoint in it. */
function systemText(system: unknown): string | ContentPart[] | null {
  if (system === undefined || system === null) {
    return null;
  }
  if (typeof system === 'string') {
    return system === '' ? null : system;
  }
  if (!Array.isArray(system)) {
    throw invalidParam('system', 'must be a string or a list of text blocks');
  }
  const parts = system.map((b, i) => {
    const block = blockAt(b, `system[${i}]`);
    if (block.type !== 'text') {
      throw invalidParam(`system[${i}].type`, "must be 'text'");
    }
    return textPart(block, `system[${i}]`);
  });
  if (parts.some(isMarked)) {
    return parts;
  }
  // `system: []` (or only empty blocks) is no system prompt, as `system: ""` is: Anthropic takes it so.
  const text = parts.map((p) => (p.type === 'text' ? p.text : '')).join('\n\n');
  return text === '' ? null : text;
}

function toolsOf(dto: MessagesDto): FunctionTool[] | undefined {
  const tools = dto.tools ?? [];
  if (tools.length === 0) {
    return undefined;
  }
  const names = new Set<string>();
  return tools.map((t, i) => {
    if (names.has(t.name)) {
      throw invalidParam(`tools[${i}].name`, `the tool name '${t.name}' is used twice`);
    }
    names.add(t.name);
    const fn: FunctionTool['function'] = { name: t.name, parameters: t.input_schema };
    if (isSet(t.description)) {
      fn.description = t.description;
    }
    const cacheControl = cacheControlOf(t.cache_control, `tools[${i}]`);
    return cacheControl === undefined
      ? { type: 'function', function: fn }
      : { type: 'function', function: fn, cache_control: cacheControl };
  });
}

function applyToolChoice(options: GenerationOptions, choice: AnthropicToolChoice | undefined): void {
  if (choice === undefined || choice === null) {
    return;
  }
  const names = new Set((options.tools ?? []).map((t) => t.function.name));
  if (choice.disable_parallel_tool_use !== undefined) {
    if (typeof choice.disable_parallel_tool_use !== 'boolean') {
      throw invalidParam('tool_choice.disable_parallel_tool_use', 'must be a boolean');
    }
    if (choice.disable_parallel_tool_use) {
      options.parallelToolCalls = false;
    }
  }
  switch (choice.type) {
    case 'auto':
      options.toolChoice = 'auto';
      return;
    case 'none':
      options.toolChoice = 'none';
      return;
    case 'any':
      if (names.size === 0) {
        throw invalidParam('tool_choice', "type 'any' needs tools");
      }
      options.toolChoice = 'required';
      return;
    case 'tool':
      if (typeof choice.name !== 'string' || !names.has(choice.name)) {
        throw invalidParam(
          'tool_choice.name',
          `must name one of the tools (got ${JSON.stringify(choice.name ?? null)})`,
        );
      }
      options.toolChoice = { type: 'function', function: { name: choice.name } };
      return;
    default:
      throw invalidParam('tool_choice.type', "must be 'auto', 'any', 'tool' or 'none'");
  }
}

/** Extended thinking as a reasoning effort, for the families that take one; the budget picks the level. */
function effortOf(budget: number | undefined): ReasoningEffort {
  if (budget === undefined || budget < 4096) {
    return 'low';
  }
  return budget < 16384 ? 'medium' : 'high';
}

function optionsOf(dto: MessagesDto): GenerationOptions {
  const options: GenerationOptions = { maxTokens: dto.max_tokens };
  if (isSet(dto.temperature)) {
    options.temperature = dto.temperature;
  }
  if (isSet(dto.top_p)) {
    options.topP = dto.top_p;
  }
  if (isSet(dto.stop_sequences) && dto.stop_sequences.length > 0) {
    options.stop = dto.stop_sequences;
  }
  const tools = toolsOf(dto);
  if (tools !== undefined) {
    options.tools = tools;
  }
  applyToolChoice(options, dto.tool_choice);
  if (isSet(dto.metadata?.user_id)) {
    options.user = dto.metadata.user_id;
  }
  if (dto.thinking?.type === 'adaptive') {
    if (isSet(dto.thinking.budget_tokens)) {
      throw invalidParam('thinking.budget_tokens', "is not accepted with thinking type 'adaptive' (the model decides)");
    }
    // Claude and Gemini are told to think adaptively; the families that take only an effort take medium.
    options.reasoningEffort = 'medium';
    options.adaptiveThinking = true;
  }
  if (isSet(dto.thinking?.display) && dto.thinking.type !== 'disabled') {
    options.thinkingDisplay = dto.thinking.display;
  }
  if (isSet(dto.service_tier)) {
    options.anthropicServiceTier = dto.service_tier;
  }
  if (dto.thinking?.type === 'enabled') {
    if (dto.thinking.budget_tokens === undefined) {
      throw invalidParam('thinking.budget_tokens', 'is required when thinking is enabled');
    }
    if (dto.thinking.budget_tokens >= dto.max_tokens) {
      throw invalidParam('thinking.budget_tokens', 'must be less than max_tokens');
    }
    options.reasoningEffort = effortOf(dto.thinking.budget_tokens);
    options.reasoningBudget = dto.thinking.budget_tokens;
  }
  if (isSet(dto.top_k)) {
    options.topK = dto.top_k;
  }
  return options;
}

/** Top-level fields this endpoint does not know: refused by name rather than dropped. */
function assertKnownFields(body: unknown): void {
  if (!isRecord(body)) {
    return;
  }
  for (const key of Object.keys(body)) {
    if (!MESSAGES_FIELDS.has(key) && body[key] !== undefined && body[key] !== null) {
      throw unsupported(key, 'the gateway does not translate this field to other providers');
    }
  }
}

/** An assistant turn with nothing in it: no text, tool call or thinking. */
function isEmptyTurn(m: ChatMessage | undefined): boolean {
  return (
    m?.role === 'assistant' &&
    (m.content === null || m.content === '') &&
    m.tool_calls === undefined &&
    m.thinking_blocks === undefined
  );
}

/**
 * Whether the conversation ends with an assistant turn that has text: Anthropic's prefill, which the model continues
 * (Claude's answer holds only what follows it). Routing keeps such a request on the families that continue a final
 * assistant message (see ASSISTANT_PREFILL_PARAM): sent to OpenAI's models, it would be answered anew, a different
 * answer than the client asked for, so those deployments are skipped and a model served by no other family is a 400
 * naming `messages`. A final assistant turn without text (empty, or tool calls only) is no prefill.
 */
function endsWithPrefill(messages: readonly ChatMessage[]): boolean {
  const last = messages.at(-1);
  if (last?.role !== 'assistant') {
    return false;
  }
  const content = last.content;
  return typeof content === 'string' ? content !== '' : (content ?? []).some((p) => p.type === 'text' && p.text !== '');
}

/** `body` is the request as received, to refuse fields the DTO does not declare. */
export function messagesRequest(dto: MessagesDto, frame: RequestFrame, body: unknown): GenerationRequest {
  assertKnownFields(body);
  const messages: ChatMessage[] = [];
  const system = systemText(dto.system);
  if (system !== null) {
    messages.push({ role: 'system', content: system });
  }
  const calls = new Set<string>();
  dto.messages.forEach((m, i) => {
    const at = `messages[${i}].content`;
    if (m.role === 'user') {
      messages.push(...userMessages(m.content, at, calls));
    } else {
      messages.push(assistantMessage(m.content, at, calls));
    }
  });
  if (isEmptyTurn(messages.at(-1))) {
    // Anthropic takes an empty final assistant turn (content "" or []) and answers as without it; sent on, OpenAI
    // refuses an assistant message with no content and no tool calls (400), and Mistral a final assistant message.
    messages.pop();
  }
  const options = optionsOf(dto);
  if (endsWithPrefill(messages)) {
    options.assistantPrefill = true;
  }
  const request: GenerationRequest = {
    requestId: frame.requestId,
    model: dto.model,
    messages,
    options,
    stream: dto.stream === true,
    userId: frame.userId,
    apiKeyId: frame.apiKeyId,
    deadlineAt: frame.deadlineAt,
    receivedAt: frame.receivedAt,
  };
  applyRoutingChoices(request, dto, frame);
  return request;
}

/** The gateway's names of provider-dependent fields, in this API's words (for `unsupported_parameter` errors). */
const ANTHROPIC_NAME_OF: Readonly<Record<string, string>> = {
  reasoning_effort: 'thinking',
  user: 'metadata.user_id',
  parallel_tool_calls: 'tool_choice.disable_parallel_tool_use',
  stop: 'stop_sequences',
};

/**
 * Re-words an error that names a field by its OpenAI name so that it names the field this client sent: its `param`,
 * and any such name its message quotes (a refusal of `temperature` with thinking on names `'thinking'`, which this
 * client sent, not `'reasoning_effort'`). Only errors are re-worded: nothing on the path of an answer.
 */
export function inAnthropicTerms(err: unknown): unknown {
  if (!(err instanceof GatewayError) || err.param === null) {
    return err;
  }
  // An offered tool's name: `tools[i].name` here (every tool of the body is offered, in its order).
  const tool = toolIndexOfParam(err.param);
  const name = tool === undefined ? (ANTHROPIC_NAME_OF[err.param] ?? err.param) : `tools[${tool}].name`;
  let message = err.message.split(`'${err.param}'`).join(`'${name}'`);
  for (const [openai, anthropic] of Object.entries(ANTHROPIC_NAME_OF)) {
    message = message.split(`'${openai}'`).join(`'${anthropic}'`);
  }
  if (name === err.param && message === err.message) {
    return err;
  }
  return new GatewayError(err.code, message, {
    param: name,
    retryAfterMs: err.retryAfterMs,
    attempts: err.attempts,
    retry: err.retry,
    cause: err,
  });
}

/** The header Anthropic's SDKs send beta feature names in (`client.beta.messages.create({betas})`). */
export const ANTHROPIC_BETA_HEADER = 'anthropic-beta';
const BETA_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
const MAX_BETAS = 20;

/**
 * The beta features of an `anthropic-beta` header (comma-separated names, as Anthropic takes them), or undefined
 * without any; a malformed list is a 400 naming the header (it goes to the provider as a header).
 */
export function anthropicBetasOf(header: string | undefined): string[] | undefined {
  if (header === undefined) {
    return undefined;
  }
  const names = [...new Set(header.split(',').map((name) => name.trim()))].filter((name) => name !== '');
  if (names.length > MAX_BETAS || names.some((name) => !BETA_NAME.test(name))) {
    throw new GatewayError(
      ErrorCode.InvalidRequest,
      `'${ANTHROPIC_BETA_HEADER}' must be up to ${MAX_BETAS} comma-separated beta names (letters, digits, . _ -).`,
      { param: ANTHROPIC_BETA_HEADER },
    );
  }
  return names.length === 0 ? undefined : names;
}
