import { ErrorClass, ProviderCallError, type StreamDelta, type Usage } from '@aigw/core';
import type { StreamDecoder } from '../http/calls';
import { errorDetailOf, safeMessage } from '../errors/provider-message';
import type { SseEvent } from '../sse/sse-parser';
import type { AdapterRequest, AdapterResponse } from '../types';

/** Wire shapes we read; every field is optional because compatible servers differ. */
interface WireUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
  prompt_tokens_details?: { cached_tokens?: number } | null;
  /** DeepSeek reports its prompt cache this way. */
  prompt_cache_hit_tokens?: number;
}

interface WireChoice {
  message?: { content?: string | null } | null;
  delta?: { content?: string | null } | null;
  finish_reason?: string | null;
}

interface WireCompletion {
  id?: string;
  created?: number;
  choices?: WireChoice[];
  usage?: WireUsage | null;
  error?: unknown;
}

/** Request body for `/chat/completions`. Our ChatMessage already is the OpenAI message shape: passed as is. */
export function openAiBody(req: AdapterRequest, stream: boolean): string {
  const o = req.options;
  return JSON.stringify({
    model: req.target.model,
    messages: req.messages,
    temperature: o.temperature,
    max_tokens: o.maxTokens,
    top_p: o.topP,
    stop: o.stop !== undefined && o.stop.length > 0 ? o.stop : undefined,
    stream: stream ? true : undefined,
    stream_options: stream ? { include_usage: true } : undefined,
  });
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

export function usageOf(u: WireUsage | null | undefined): Usage {
  if (u === null || u === undefined) {
    return { promptTokens: 0, completionTokens: 0, totalTokens: 0, cachedPromptTokens: 0 };
  }
  const promptTokens = num(u.prompt_tokens);
  const completionTokens = num(u.completion_tokens);
  return {
    promptTokens,
    completionTokens,
    totalTokens: u.total_tokens !== undefined ? num(u.total_tokens) : promptTokens + completionTokens,
    cachedPromptTokens: num(u.prompt_tokens_details?.cached_tokens ?? u.prompt_cache_hit_tokens),
  };
}

function inBandError(error: unknown, status?: number): ProviderCallError {
  const detail = errorDetailOf({ error });
  return new ProviderCallError(ErrorClass.Provider, `upstream error: ${safeMessage(detail?.message ?? 'unknown')}`, {
    status,
  });
}

/** A 2xx `/chat/completions` body. Some proxies answer 200 with `{"error": ...}`: that is a provider failure. */
export function readCompletion(json: unknown, status: number): Omit<AdapterResponse, 'rateLimit'> {
  const body = json as WireCompletion | null;
  if (typeof body !== 'object' || body === null) {
    throw new ProviderCallError(ErrorClass.Provider, `upstream HTTP ${status}: body is not a completion`, { status });
  }
  if (body.error !== undefined && body.error !== null) {
    throw inBandError(body.error, status);
  }
  const choice = Array.isArray(body.choices) ? body.choices[0] : undefined;
  if (choice === undefined || choice === null || typeof choice !== 'object') {
    throw new ProviderCallError(ErrorClass.Provider, `upstream HTTP ${status}: completion has no choices`, { status });
  }
  const content = choice.message?.content;
  return {
    id: typeof body.id === 'string' ? body.id : '',
    created: typeof body.created === 'number' ? body.created : Math.floor(Date.now() / 1000),
    text: typeof content === 'string' ? content : '',
    finishReason: choice.finish_reason ?? null,
    usage: usageOf(body.usage),
  };
}

/** `data:` chunks until `data: [DONE]`; the usage chunk (empty `choices`) comes right before it. */
export class OpenAiStreamDecoder implements StreamDecoder {
  readonly terminal = '[DONE]';
  private idSent = false;

  onEvent(event: SseEvent, out: StreamDelta[]): boolean {
    const data = event.data;
    if (data === '[DONE]') {
      return true;
    }
    let chunk: WireCompletion;
    try {
      chunk = JSON.parse(data) as WireCompletion;
    } catch (err) {
      throw new ProviderCallError(ErrorClass.Provider, 'upstream sent a stream chunk that is not JSON', { cause: err });
    }
    if (typeof chunk !== 'object' || chunk === null) {
      throw new ProviderCallError(ErrorClass.Provider, 'upstream sent a stream chunk that is not an object');
    }
    if (chunk.error !== undefined && chunk.error !== null) {
      throw inBandError(chunk.error);
    }
    const choice = Array.isArray(chunk.choices) ? chunk.choices[0] : undefined;
    const content = choice?.delta?.content;
    const text = typeof content === 'string' ? content : '';
    const finishReason = choice?.finish_reason ?? undefined;
    const usage = chunk.usage ?? undefined;
    // Role-only and empty keep-alive chunks carry nothing worth a delta.
    if (text.length === 0 && finishReason === undefined && usage === undefined) {
      return false;
    }
    const delta: StreamDelta = { text };
    if (finishReason !== undefined) {
      delta.finishReason = finishReason;
    }
    if (usage !== undefined) {
      delta.usage = usageOf(usage);
    }
    if (!this.idSent && typeof chunk.id === 'string' && chunk.id.length > 0) {
      this.idSent = true;
      delta.id = chunk.id;
    }
    out.push(delta);
    return false;
  }
}
