import {
  ErrorClass,
  type JsonObject,
  ProviderCallError,
  type StreamDelta,
  type ToolCall,
  type ToolCallDelta,
  type Usage,
  merged,
} from '@aigw/core';
import { newToolCallId } from '../content/tool-call-id';
import { idWithSignature } from './thought-signature';
import { classifyInBandError } from '../errors/classify';
import { errorDetailOf, safeMessage } from '../errors/provider-message';
import type { StreamDecoder } from '../http/calls';
import type { SseEvent } from '../sse/sse-parser';
import type { AdapterResponse } from '../types';

/** `GenerateContentResponse` as we read it (Gemini API v1beta). */
interface WirePart {
  text?: string;
  /** A thought summary (with `thinkingConfig.includeThoughts`), not answer text. */
  thought?: boolean;
  functionCall?: { id?: string; name?: string; args?: unknown } | null;
  /** Signs a function call (the first of parallel ones) of a thinking model; Gemini wants it back with the call. */
  thoughtSignature?: string;
}

/** A token and its log probability (`LogprobsResult.Candidate`). */
interface WireLogprob {
  token?: string;
  tokenId?: number;
  logProbability?: number;
}

/** With `responseLogprobs`: per decoding step, the chosen token and (with `logprobs`: N) the N likeliest. */
interface WireLogprobsResult {
  chosenCandidates?: WireLogprob[];
  topCandidates?: { candidates?: WireLogprob[] }[];
}

interface WireCandidate {
  content?: { role?: string; parts?: WirePart[] } | null;
  finishReason?: string;
  logprobsResult?: WireLogprobsResult | null;
}

interface WireUsage {
  promptTokenCount?: number;
  candidatesTokenCount?: number;
  totalTokenCount?: number;
  cachedContentTokenCount?: number;
  thoughtsTokenCount?: number;
}

interface WireResponse {
  candidates?: WireCandidate[];
  promptFeedback?: { blockReason?: string } | null;
  usageMetadata?: WireUsage | null;
  responseId?: string;
  error?: unknown;
}

const FILTERED = new Set([
  'SAFETY',
  'RECITATION',
  'BLOCKLIST',
  'PROHIBITED_CONTENT',
  'SPII',
  'IMAGE_SAFETY',
  'IMAGE_PROHIBITED_CONTENT',
  'IMAGE_RECITATION',
  'LANGUAGE',
]);

/**
 * The model failed to produce a usable call (or, `MISSING_THOUGHT_SIGNATURE`, "request has at least one thought
 * signature missing", refused the history; `TOO_MANY_TOOL_CALLS`, "model called too many tools consecutively, thus the
 * system exited execution"; `MALFORMED_RESPONSE`, "token generation stopped because the response was malformed"): no
 * answer, and another try (or deployment, another family) may well make one.
 */
const FAILED_CALLS = new Set([
  'MALFORMED_FUNCTION_CALL',
  'UNEXPECTED_TOOL_CALL',
  'MISSING_THOUGHT_SIGNATURE',
  'TOO_MANY_TOOL_CALLS',
  'MALFORMED_RESPONSE',
]);

/**
 * Gemini's finishReason in OpenAI's terms; a stop that made function calls is `tool_calls`. A malformed or unexpected
 * function call is a provider failure (it was answered as an empty success), charged with the tokens the answer
 * reported (`usage`: Google bills them); anything else undocumented (`OTHER`) ended the answer, `stop`.
 */
export function finishReasonOf(reason: string, madeCalls: boolean, usage?: Usage): string {
  if (reason === 'MAX_TOKENS') {
    return 'length';
  }
  if (FILTERED.has(reason)) {
    return 'content_filter';
  }
  if (FAILED_CALLS.has(reason)) {
    const charged = usage !== undefined && usage.promptTokens + usage.completionTokens > 0 ? usage : undefined;
    throw new ProviderCallError(
      ErrorClass.Provider,
      `upstream ended the answer with finishReason ${reason}`,
      charged === undefined ? {} : { charged },
    );
  }
  return madeCalls ? 'tool_calls' : 'stop';
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

/**
 * `promptTokenCount` includes the cached part (`cachedContentTokenCount`); thinking tokens are billed as output but
 * reported apart from `candidatesTokenCount`, so they are added to the completion here.
 */
export function geminiUsageOf(u: WireUsage | null | undefined): Usage {
  const promptTokens = num(u?.promptTokenCount);
  const thoughts = num(u?.thoughtsTokenCount);
  const completionTokens = num(u?.candidatesTokenCount) + thoughts;
  const usage: Usage = {
    promptTokens,
    completionTokens,
    totalTokens: Math.max(num(u?.totalTokenCount), promptTokens + completionTokens),
    cachedPromptTokens: num(u?.cachedContentTokenCount),
  };
  if (thoughts > 0) {
    usage.reasoningTokens = thoughts;
  }
  return usage;
}

function logprobEntry(c: WireLogprob): JsonObject {
  const token = typeof c.token === 'string' ? c.token : '';
  return { token, logprob: num(c.logProbability), bytes: [...Buffer.from(token, 'utf8')] };
}

/**
 * Gemini's `logprobsResult` as OpenAI's `choices[].logprobs`: one `content` entry per chosen token, its
 * `top_logprobs` the step's top candidates (empty unless `top_logprobs` was asked for). Undefined when there is none.
 */
export function openAiLogprobsOf(r: WireLogprobsResult | null | undefined): JsonObject | undefined {
  if (r === undefined || r === null || !Array.isArray(r.chosenCandidates)) {
    return undefined;
  }
  const top = Array.isArray(r.topCandidates) ? r.topCandidates : [];
  const content = r.chosenCandidates.map((c, i) =>
    merged(logprobEntry(c), { top_logprobs: (top[i]?.candidates ?? []).map(logprobEntry) }),
  );
  return { content, refusal: null };
}

/**
 * A google.rpc.Status the API sent inside a 200 (a stream's event, or a body), classified by its `code` as the same
 * answer with that status would be (`classifyInBandError`): a 400 INVALID_ARGUMENT is the request's, a 429
 * (`RESOURCE_EXHAUSTED`) a rate limit with its RetryInfo's wait. `UNAVAILABLE` (503, "The model is overloaded") is the
 * provider out of room, as its HTTP 503 is: named `overloaded` (as Claude's overloaded_error event is), so that a
 * request no other provider answered after the retries and the fallback gets all_providers_overloaded (a retry shortly
 * likely succeeds), not the 502 of a provider fault, and a stream it cuts after its first content ends with
 * provider_overloaded.
 */
function inBandError(error: unknown, apiKey: string | undefined, status?: number): ProviderCallError {
  const detail = errorDetailOf({ error });
  const code = (error as { code?: unknown } | null)?.code;
  const message = safeMessage(detail?.message ?? 'unknown', apiKey);
  const classified = classifyInBandError(error, apiKey);
  // A status without its numeric code still names a rate limit.
  const rateLimited = classified.errorClass === ErrorClass.RateLimit || detail?.googleStatus === 'RESOURCE_EXHAUSTED';
  return new ProviderCallError(
    rateLimited ? ErrorClass.RateLimit : classified.errorClass,
    `upstream error: ${message}`,
    {
      status,
      retryAfterMs: rateLimited ? (classified.retryAfterMs ?? detail?.googleRetryDelayMs) : undefined,
      overloaded: code === 503 || detail?.googleStatus === 'UNAVAILABLE',
    },
  );
}

/**
 * Gemini gives calls no ids (newer models sometimes do): ours are unique across answers. The call's thought signature
 * rides in the id (thought-signature.ts).
 */
function callId(part: WirePart, call: NonNullable<WirePart['functionCall']>): string {
  const id = typeof call.id === 'string' && call.id.length > 0 ? call.id : newToolCallId();
  return idWithSignature(id, part.thoughtSignature);
}

function argumentsOf(args: unknown): string {
  return JSON.stringify(args ?? {});
}

/** A `generateContent` body. A prompt blocked by safety settings has no candidates: an empty, filtered answer. */
export function readGenerateContent(
  json: unknown,
  status: number,
  apiKey: string | undefined,
): Omit<AdapterResponse, 'rateLimit'> {
  const body = json as WireResponse | null;
  if (typeof body !== 'object' || body === null) {
    throw new ProviderCallError(ErrorClass.Provider, `upstream HTTP ${status}: body is not a GenerateContentResponse`, {
      status,
    });
  }
  if (body.error !== undefined && body.error !== null) {
    throw inBandError(body.error, apiKey, status);
  }
  const candidate = Array.isArray(body.candidates) ? body.candidates[0] : undefined;
  const usage = geminiUsageOf(body.usageMetadata);
  const base = {
    id: typeof body.responseId === 'string' ? body.responseId : '',
    created: Math.floor(Date.now() / 1000),
    usage,
  };
  if (candidate === undefined || candidate === null) {
    if (typeof body.promptFeedback?.blockReason === 'string') {
      return merged(base, { text: '', finishReason: 'content_filter' as const });
    }
    throw new ProviderCallError(ErrorClass.Provider, `upstream HTTP ${status}: response has no candidates`, { status });
  }
  let text = '';
  let reasoning = '';
  const toolCalls: ToolCall[] = [];
  for (const part of candidate.content?.parts ?? []) {
    if (part.functionCall !== undefined && part.functionCall !== null) {
      const call = part.functionCall;
      toolCalls.push({
        id: callId(part, call),
        type: 'function',
        function: { name: typeof call.name === 'string' ? call.name : '', arguments: argumentsOf(call.args) },
      });
    } else if (typeof part.text === 'string') {
      if (part.thought === true) {
        reasoning += part.text;
      } else {
        text += part.text;
      }
    }
  }
  const res: Omit<AdapterResponse, 'rateLimit'> = merged(base, {
    text,
    finishReason:
      candidate.finishReason === undefined
        ? null
        : finishReasonOf(candidate.finishReason, toolCalls.length > 0, base.usage),
  });
  if (toolCalls.length > 0) {
    res.toolCalls = toolCalls;
  }
  if (reasoning.length > 0) {
    res.reasoning = reasoning;
  }
  const logprobs = openAiLogprobsOf(candidate.logprobsResult);
  if (logprobs !== undefined) {
    res.logprobs = logprobs;
  }
  return res;
}

/**
 * `streamGenerateContent?alt=sse`: every event is a whole GenerateContentResponse holding the next piece; the last
 * carries `finishReason` and the usage. There is no terminal event: the stream is complete when it closes after a
 * finish reason. Function calls arrive whole, each as one tool-call delta.
 */
export class GeminiStreamDecoder implements StreamDecoder {
  readonly terminal = 'a finishReason';
  private finished = false;
  private idSent = false;
  private calls = 0;

  /** `apiKey`: the key the call sent, hidden from in-band error messages. */
  constructor(private readonly apiKey: string | undefined) {}

  onEvent(event: SseEvent, out: StreamDelta[]): boolean {
    let chunk: WireResponse;
    try {
      chunk = JSON.parse(event.data) as WireResponse;
    } catch (err) {
      throw new ProviderCallError(ErrorClass.Provider, 'upstream sent a stream chunk that is not JSON', { cause: err });
    }
    if (typeof chunk !== 'object' || chunk === null) {
      throw new ProviderCallError(ErrorClass.Provider, 'upstream sent a stream chunk that is not an object');
    }
    if (chunk.error !== undefined && chunk.error !== null) {
      throw inBandError(chunk.error, this.apiKey);
    }
    const candidate = Array.isArray(chunk.candidates) ? chunk.candidates[0] : undefined;
    const delta: StreamDelta = { text: '' };
    let reasoning = '';
    const toolCalls: ToolCallDelta[] = [];
    for (const part of candidate?.content?.parts ?? []) {
      if (part.functionCall !== undefined && part.functionCall !== null) {
        const call = part.functionCall;
        const index = this.calls++;
        toolCalls.push({
          index,
          id: callId(part, call),
          name: typeof call.name === 'string' ? call.name : '',
          arguments: argumentsOf(call.args),
        });
      } else if (typeof part.text === 'string') {
        if (part.thought === true) {
          reasoning += part.text;
        } else {
          delta.text += part.text;
        }
      }
    }
    if (toolCalls.length > 0) {
      delta.toolCalls = toolCalls;
    }
    if (reasoning.length > 0) {
      delta.reasoning = reasoning;
    }
    // Each event carries the log probabilities of its own tokens; the collector joins them as OpenAI's chunks are.
    const logprobs = openAiLogprobsOf(candidate?.logprobsResult);
    if (logprobs !== undefined) {
      delta.logprobs = logprobs;
    }
    if (chunk.usageMetadata !== undefined && chunk.usageMetadata !== null) {
      delta.usage = geminiUsageOf(chunk.usageMetadata);
    }
    if (candidate?.finishReason !== undefined) {
      this.finished = true;
      // The last event carries the usage with the finish reason: a failed one is charged with it.
      delta.finishReason = finishReasonOf(candidate.finishReason, this.calls > 0, delta.usage);
    } else if (candidate === undefined && typeof chunk.promptFeedback?.blockReason === 'string') {
      this.finished = true;
      delta.finishReason = 'content_filter';
    }
    if (!this.idSent && typeof chunk.responseId === 'string' && chunk.responseId.length > 0) {
      this.idSent = true;
      delta.id = chunk.responseId;
    }
    out.push(delta);
    return false;
  }

  complete(): boolean {
    return this.finished;
  }
}
