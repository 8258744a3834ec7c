import { ErrorClass, ProviderCallError, type StreamDelta, type Usage } from '@aigw/core';
import { errorDetailOf, safeMessage } from '../errors/provider-message';
import type { StreamDecoder } from '../http/calls';
import type { SseEvent } from '../sse/sse-parser';
import type { AdapterResponse } from '../types';
import { finishReasonOf } from './anthropic-mapping';

interface WireUsage {
  input_tokens?: number | null;
  output_tokens?: number | null;
  cache_read_input_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
}

interface WireMessage {
  type?: string;
  id?: string;
  content?: { type?: string; text?: string }[];
  stop_reason?: string | null;
  usage?: WireUsage | null;
  error?: unknown;
}

interface WireEvent {
  type?: string;
  message?: WireMessage;
  delta?: { type?: string; text?: string; stop_reason?: string | null };
  usage?: WireUsage | null;
  error?: unknown;
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

/** Cache reads and cache writes are prompt tokens too: Anthropic reports them apart from `input_tokens`. */
export function anthropicUsage(u: WireUsage | null | undefined): Usage {
  const cacheRead = num(u?.cache_read_input_tokens);
  const promptTokens = num(u?.input_tokens) + cacheRead + num(u?.cache_creation_input_tokens);
  const completionTokens = num(u?.output_tokens);
  return {
    promptTokens,
    completionTokens,
    totalTokens: promptTokens + completionTokens,
    cachedPromptTokens: cacheRead,
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
      return /prompt is too long/i.test(message) ? ErrorClass.ContextLength : ErrorClass.InvalidRequest;
    case 'timeout_error':
      return ErrorClass.Timeout;
    default:
      // overloaded_error, api_error, not_found_error and anything new
      return ErrorClass.Provider;
  }
}

function inBandError(error: unknown, status?: number): ProviderCallError {
  const detail = errorDetailOf({ error });
  const message = detail?.message ?? 'unknown';
  return new ProviderCallError(anthropicErrorClass(detail?.code, message), `upstream error: ${safeMessage(message)}`, {
    status,
  });
}

/** A 2xx `/v1/messages` body. */
export function readMessage(json: unknown, status: number): Omit<AdapterResponse, 'rateLimit'> {
  const body = json as WireMessage | null;
  if (typeof body !== 'object' || body === null) {
    throw new ProviderCallError(ErrorClass.Provider, `upstream HTTP ${status}: body is not a message`, { status });
  }
  if (body.type === 'error' || (body.error !== undefined && body.error !== null)) {
    throw inBandError(body.error, status);
  }
  if (!Array.isArray(body.content)) {
    throw new ProviderCallError(ErrorClass.Provider, `upstream HTTP ${status}: message has no content`, { status });
  }
  let text = '';
  for (const block of body.content) {
    if (block.type === 'text' && typeof block.text === 'string') {
      text += block.text;
    }
  }
  return {
    id: typeof body.id === 'string' ? body.id : '',
    created: Math.floor(Date.now() / 1000),
    text,
    finishReason: finishReasonOf(body.stop_reason),
    usage: anthropicUsage(body.usage),
  };
}

/**
 * message_start (id, input usage) → content_block_delta* (text) → message_delta (stop reason, output usage) →
 * message_stop. The finish reason and usage go out as one last delta at message_stop, so a stream cut before it
 * never looks finished.
 */
export class AnthropicStreamDecoder implements StreamDecoder {
  readonly terminal = 'message_stop';
  private id: string | undefined;
  private idSent = false;
  private usage: WireUsage = {};
  private stopReason: string | null = null;

  onEvent(event: SseEvent, out: StreamDelta[]): boolean {
    const name = event.event;
    if (name === 'ping' || name === 'content_block_start' || name === 'content_block_stop') {
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
      case 'content_block_delta':
        if (e.delta?.type === 'text_delta' && typeof e.delta.text === 'string' && e.delta.text.length > 0) {
          out.push(this.withId({ text: e.delta.text }));
        }
        return false;
      case 'message_delta':
        if (e.delta?.stop_reason !== undefined) {
          this.stopReason = e.delta.stop_reason;
        }
        this.addUsage(e.usage);
        return false;
      case 'message_stop':
        out.push(
          this.withId({ text: '', finishReason: finishReasonOf(this.stopReason), usage: anthropicUsage(this.usage) }),
        );
        return true;
      case 'error':
        throw inBandError(e.error);
      default:
        return false;
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
  }

  private withId(delta: StreamDelta): StreamDelta {
    if (!this.idSent && this.id !== undefined) {
      this.idSent = true;
      delta.id = this.id;
    }
    return delta;
  }
}
