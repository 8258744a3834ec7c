import {
  ErrorClass,
  ProviderCallError,
  type AnswerDetails,
  type JsonValue,
  type StreamDelta,
  type ThinkingBlock,
  type ToolCall,
  type Usage,
} from '@aigw/core';
import { CREDIT_EXHAUSTED_TEXT } from '../errors/classify';
import { errorDetailOf, safeMessage } from '../errors/provider-message';
import type { StreamDecoder } from '../http/calls';
import type { SseEvent } from '../sse/sse-parser';
import type { AdapterResponse } from '../types';
import { finishReasonOf, nativeStopReasonOf } from './anthropic-mapping';

interface WireUsage {
  input_tokens?: number | null;
  output_tokens?: number | null;
  cache_read_input_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
  /** The writes by how long they live in the cache (`cache_control.ttl`: 5 minutes, or 1 hour at a higher price). */
  cache_creation?: { ephemeral_1h_input_tokens?: number | null } | null;
}

interface WireBlock {
  type?: string;
  text?: string;
  /** tool_use */
  id?: string;
  name?: string;
  input?: JsonValue;
  /** thinking */
  thinking?: string;
  signature?: string;
  /** redacted_thinking */
  data?: string;
}

interface WireMessage {
  type?: string;
  id?: string;
  content?: WireBlock[];
  stop_reason?: string | null;
  stop_sequence?: string | null;
  usage?: WireUsage | null;
  error?: unknown;
}

interface WireEvent {
  type?: string;
  index?: number;
  message?: WireMessage;
  content_block?: WireBlock;
  delta?: {
    type?: string;
    text?: string;
    partial_json?: string;
    thinking?: string;
    signature?: string;
    stop_reason?: string | null;
    stop_sequence?: string | null;
  };
  usage?: WireUsage | null;
  error?: unknown;
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

/**
 * Cache reads and cache writes are prompt tokens too: Anthropic reports them apart from `input_tokens`. Each is
 * counted once in `promptTokens` and named by its own field, so pricing bills each at its own rate.
 */
export function anthropicUsage(u: WireUsage | null | undefined): Usage {
  const cacheRead = num(u?.cache_read_input_tokens);
  const cacheWrite = num(u?.cache_creation_input_tokens);
  const promptTokens = num(u?.input_tokens) + cacheRead + cacheWrite;
  const completionTokens = num(u?.output_tokens);
  const usage: Usage = {
    promptTokens,
    completionTokens,
    totalTokens: promptTokens + completionTokens,
    cachedPromptTokens: cacheRead,
  };
  if (cacheWrite > 0) {
    usage.cacheWritePromptTokens = cacheWrite;
    const long = Math.min(num(u?.cache_creation?.ephemeral_1h_input_tokens), cacheWrite);
    if (long > 0) {
      usage.cacheWrite1hPromptTokens = long;
    }
  }
  return usage;
}

/** tool_use blocks as OpenAI tool calls: the input object becomes JSON argument text. */
function toolCallOf(block: WireBlock): ToolCall {
  return {
    id: typeof block.id === 'string' ? block.id : '',
    type: 'function',
    function: { name: typeof block.name === 'string' ? block.name : '', arguments: JSON.stringify(block.input ?? {}) },
  };
}

/** Error types of the Messages API (HTTP error bodies and `event: error` alike) as error classes. */
export function anthropicErrorClass(type: string | undefined, message: string): ErrorClass {
  switch (type ?? '') {
    case 'rate_limit_error':
      return ErrorClass.RateLimit;
    case 'authentication_error':
    case 'permission_error':
    case 'billing_error':
      return ErrorClass.Auth;
    case 'request_too_large':
      return ErrorClass.ContextLength;
    case 'invalid_request_error':
      if (CREDIT_EXHAUSTED_TEXT.test(message)) {
        // Spent credits or a spend limit reached: the account's, as over HTTP (classifyHttpFailure).
        return ErrorClass.Auth;
      }
      return /prompt is too long|exceed context limit/i.test(message)
        ? ErrorClass.ContextLength
        : ErrorClass.InvalidRequest;
    case 'timeout_error':
      return ErrorClass.Timeout;
    case 'not_found_error':
      // As its HTTP 404 (classifyHttpFailure): the model is not served there; the deployment is not sick.
      return ErrorClass.NotFound;
    default:
      // overloaded_error, api_error and anything new
      return ErrorClass.Provider;
  }
}

function inBandError(error: unknown, apiKey: string | undefined, status?: number): ProviderCallError {
  const detail = errorDetailOf({ error });
  const message = detail?.message ?? 'unknown';
  return new ProviderCallError(
    anthropicErrorClass(detail?.code, message),
    `upstream error: ${safeMessage(message, apiKey)}`,
    { status, overloaded: detail?.code === 'overloaded_error' },
  );
}

/** A 2xx `/v1/messages` body (or an error one, whose message may echo `apiKey`, the key the call sent). */
export function readMessage(
  json: unknown,
  status: number,
  apiKey: string | undefined,
): Omit<AdapterResponse, 'rateLimit'> {
  const body = json as WireMessage | null;
  if (typeof body !== 'object' || body === null) {
    throw new ProviderCallError(ErrorClass.Provider, `upstream HTTP ${status}: body is not a message`, { status });
  }
  if (body.type === 'error' || (body.error !== undefined && body.error !== null)) {
    throw inBandError(body.error, apiKey, status);
  }
  if (!Array.isArray(body.content)) {
    throw new ProviderCallError(ErrorClass.Provider, `upstream HTTP ${status}: message has no content`, { status });
  }
  let text = '';
  let reasoning = '';
  const toolCalls: ToolCall[] = [];
  const thinking: ThinkingBlock[] = [];
  for (const block of body.content) {
    if (block.type === 'text' && typeof block.text === 'string') {
      text += block.text;
    } else if (block.type === 'tool_use') {
      toolCalls.push(toolCallOf(block));
    } else if (block.type === 'thinking' && typeof block.thinking === 'string') {
      reasoning += block.thinking;
      if (typeof block.signature === 'string' && block.signature !== '') {
        thinking.push({ type: 'thinking', thinking: block.thinking, signature: block.signature });
      }
    } else if (block.type === 'redacted_thinking' && typeof block.data === 'string') {
      thinking.push({ type: 'redacted_thinking', data: block.data });
    }
  }
  const details: AnswerDetails = {};
  if (toolCalls.length > 0) {
    details.toolCalls = toolCalls;
  }
  if (reasoning !== '') {
    details.reasoning = reasoning;
  }
  if (thinking.length > 0) {
    details.thinkingBlocks = thinking;
  }
  if (typeof body.stop_sequence === 'string') {
    details.stopSequence = body.stop_sequence;
  }
  const stopReason = nativeStopReasonOf(body.stop_reason);
  if (stopReason !== undefined) {
    details.anthropicStopReason = stopReason;
  }
  return {
    id: typeof body.id === 'string' ? body.id : '',
    created: Math.floor(Date.now() / 1000),
    text,
    finishReason: finishReasonOf(body.stop_reason),
    usage: anthropicUsage(body.usage),
    ...details,
  };
}

/**
 * message_start (id, input usage) → per content block: content_block_start, content_block_delta* (text,
 * tool-use input JSON, thinking and its signature), content_block_stop → message_delta (stop reason, output usage) → message_stop.
 * tool_use blocks become tool-call deltas numbered in order of appearance (OpenAI's `index`), their streamed
 * `input_json_delta` pieces the argument fragments. The finish reason and usage go out as one last delta at
 * message_stop, so a stream cut before it never looks finished.
 */
export class AnthropicStreamDecoder implements StreamDecoder {
  readonly terminal = 'message_stop';
  private id: string | undefined;
  private idSent = false;
  private usage: WireUsage = {};
  private stopReason: string | null = null;
  private stopSequence: string | undefined;
  /** Anthropic content block index → tool call index, for the tool_use blocks seen so far. */
  private readonly toolIndex = new Map<number, number>();
  /** Tool calls (by tool call index) that received argument text. */
  private readonly withArguments = new Set<number>();
  /** A tool_use block's input given whole in its content_block_start (by tool call index), for a block without deltas. */
  private startInputs: Map<number, string> | undefined;
  /**
   * A thinking block's signature given in its content_block_start (by block index), sent when the block stops unless
   * a signature_delta replaced it: a block given whole there is signed once, as the SDKs read it.
   */
  private startSignatures: Map<number, string> | undefined;

  /** `apiKey`: the key the call sent, hidden from in-band error messages. */
  constructor(private readonly apiKey: string | undefined) {}

  onEvent(event: SseEvent, out: StreamDelta[]): boolean {
    const name = event.event;
    if (name === 'ping') {
      return false;
    }
    let e: WireEvent;
    try {
      e = JSON.parse(event.data) as WireEvent;
    } catch (err) {
      throw new ProviderCallError(ErrorClass.Provider, `upstream sent a ${name} event that is not JSON`, {
        cause: err,
      });
    }
    if (typeof e !== 'object' || e === null) {
      throw new ProviderCallError(ErrorClass.Provider, `upstream sent a ${name} event that is not an object`);
    }
    switch (e.type ?? name) {
      case 'message_start':
        this.id = e.message?.id;
        this.addUsage(e.message?.usage);
        return false;
      case 'content_block_start':
        this.blockStarted(e, out);
        return false;
      case 'content_block_delta':
        this.blockDelta(e, out);
        return false;
      case 'content_block_stop':
        this.blockStopped(e, out);
        return false;
      case 'message_delta':
        if (e.delta?.stop_reason !== undefined) {
          this.stopReason = e.delta.stop_reason;
        }
        if (typeof e.delta?.stop_sequence === 'string') {
          this.stopSequence = e.delta.stop_sequence;
        }
        this.addUsage(e.usage);
        return false;
      case 'message_stop': {
        const last: StreamDelta = {
          text: '',
          finishReason: finishReasonOf(this.stopReason),
          usage: anthropicUsage(this.usage),
        };
        if (this.stopSequence !== undefined) {
          last.stopSequence = this.stopSequence;
        }
        const stopReason = nativeStopReasonOf(this.stopReason);
        if (stopReason !== undefined) {
          last.anthropicStopReason = stopReason;
        }
        out.push(this.withId(last));
        return true;
      }
      case 'error':
        throw inBandError(e.error, this.apiKey);
      default:
        return false;
    }
  }

  private blockStarted(e: WireEvent, out: StreamDelta[]): void {
    const block = e.content_block;
    if (block?.type === 'redacted_thinking') {
      // Encrypted reasoning comes whole in its start event; there is nothing to show, only to send back.
      if (typeof block.data === 'string' && block.data !== '') {
        out.push(this.withId({ text: '', redactedReasoning: block.data }));
      }
      return;
    }
    if (block?.type === 'text' || block?.type === 'thinking') {
      // Anthropic opens these blocks empty, but the format lets a block start with content, and some compatible
      // servers put the first text there: the SDKs take it as the block's first part, and so is it here.
      const first = block.type === 'text' ? block.text : block.thinking;
      if (typeof first === 'string' && first.length > 0) {
        out.push(this.withId(block.type === 'text' ? { text: first } : { text: '', reasoning: first }));
      }
      if (block.type === 'thinking' && typeof block.signature === 'string' && block.signature.length > 0) {
        (this.startSignatures ??= new Map()).set(typeof e.index === 'number' ? e.index : -1, block.signature);
      }
      return;
    }
    if (block?.type !== 'tool_use') {
      return;
    }
    const index = this.toolIndex.size;
    this.toolIndex.set(typeof e.index === 'number' ? e.index : -1, index);
    // The input arrives as input_json_delta pieces; the block's own `input` is an empty placeholder. Some
    // Anthropic-compatible servers give the whole input here and stream none: it is the input then, as the SDKs read it.
    const input = block.input;
    if (typeof input === 'object' && input !== null && !Array.isArray(input) && Object.keys(input).length > 0) {
      (this.startInputs ??= new Map()).set(index, JSON.stringify(input));
    }
    out.push(
      this.withId({
        text: '',
        toolCalls: [{ index, id: typeof block.id === 'string' ? block.id : '', name: block.name ?? '', arguments: '' }],
      }),
    );
  }

  private blockDelta(e: WireEvent, out: StreamDelta[]): void {
    const d = e.delta;
    if (d === undefined) {
      return;
    }
    switch (d.type ?? '') {
      case 'text_delta':
        if (typeof d.text === 'string' && d.text.length > 0) {
          out.push(this.withId({ text: d.text }));
        }
        return;
      case 'input_json_delta': {
        const index = this.toolIndex.get(typeof e.index === 'number' ? e.index : -1);
        if (index !== undefined && typeof d.partial_json === 'string' && d.partial_json.length > 0) {
          this.withArguments.add(index);
          out.push(this.withId({ text: '', toolCalls: [{ index, arguments: d.partial_json }] }));
        }
        return;
      }
      case 'thinking_delta':
        if (typeof d.thinking === 'string' && d.thinking.length > 0) {
          out.push(this.withId({ text: '', reasoning: d.thinking }));
        }
        return;
      case 'signature_delta':
        // Comes last in a thinking block: it ends the block whose text the thinking deltas carried.
        if (typeof d.signature === 'string' && d.signature.length > 0) {
          this.startSignatures?.delete(typeof e.index === 'number' ? e.index : -1);
          out.push(this.withId({ text: '', reasoningSignature: d.signature }));
        }
        return;
      default:
        return;
    }
  }

  /**
   * A tool called without input streams no JSON at all; OpenAI clients expect `{}` as its arguments. A block whose
   * input came whole in its start has that input; a thinking block whose signature came there is signed with it now.
   */
  private blockStopped(e: WireEvent, out: StreamDelta[]): void {
    const blockIndex = typeof e.index === 'number' ? e.index : -1;
    const signature = this.startSignatures?.get(blockIndex);
    if (signature !== undefined) {
      this.startSignatures?.delete(blockIndex);
      out.push(this.withId({ text: '', reasoningSignature: signature }));
      return;
    }
    const index = this.toolIndex.get(blockIndex);
    if (index !== undefined && !this.withArguments.has(index)) {
      this.withArguments.add(index);
      out.push(this.withId({ text: '', toolCalls: [{ index, arguments: this.startInputs?.get(index) ?? '{}' }] }));
    }
  }

  /** Later events repeat counts cumulatively: the newest value of each field wins. */
  private addUsage(u: WireUsage | null | undefined): void {
    if (u === null || u === undefined) {
      return;
    }
    const cur = this.usage;
    if (typeof u.input_tokens === 'number') {
      cur.input_tokens = u.input_tokens;
    }
    if (typeof u.output_tokens === 'number') {
      cur.output_tokens = u.output_tokens;
    }
    if (typeof u.cache_read_input_tokens === 'number') {
      cur.cache_read_input_tokens = u.cache_read_input_tokens;
    }
    if (typeof u.cache_creation_input_tokens === 'number') {
      cur.cache_creation_input_tokens = u.cache_creation_input_tokens;
    }
    if (typeof u.cache_creation === 'object' && u.cache_creation !== null) {
      cur.cache_creation = u.cache_creation;
    }
  }

  /**
   * The first delta carries the message's id and the prompt usage message_start gave (output comes at the end): the
   * stream's start then says its input tokens, as Anthropic's own message_start does.
   */
  private withId(delta: StreamDelta): StreamDelta {
    if (!this.idSent && this.id !== undefined) {
      this.idSent = true;
      delta.id = this.id;
      if (typeof this.usage.input_tokens === 'number') {
        delta.usage = anthropicUsage(this.usage);
      }
    }
    return delta;
  }
}
