import {
  ErrorClass,
  ProviderCallError,
  dataUrlOf,
  type ChatMessage,
  type JsonObject,
  type ReasoningEffort,
  type StreamDelta,
  type ToolCall,
  type ToolCallDelta,
  type Usage,
  toolResultContent,
} from '@aigw/core';
import { newToolCallId } from '../content/tool-call-id';
import { TOOL_RESULT_TEXT_SEPARATOR } from '../content/tool-result-text';
import { errorDetailOf, safeMessage } from '../errors/provider-message';
import type { StreamDecoder } from '../http/calls';
import type { SseEvent } from '../sse/sse-parser';
import type { AdapterRequest, AdapterResponse } from '../types';

/** Ollama's native chat API (`POST /api/chat`), request and response. */

interface OllamaMessage {
  role: string;
  content: string;
  images?: string[];
  tool_calls?: { function: { name: string; arguments: JsonObject } }[];
  tool_name?: string;
}

interface WireToolCall {
  function?: { index?: number; name?: string; arguments?: unknown } | null;
}

interface WireChat {
  model?: string;
  created_at?: string;
  message?: { content?: string; thinking?: string; tool_calls?: WireToolCall[] | null } | null;
  done?: boolean;
  done_reason?: string;
  prompt_eval_count?: number;
  eval_count?: number;
  error?: unknown;
}

function invalid(message: string): ProviderCallError {
  return new ProviderCallError(ErrorClass.InvalidRequest, message, { untranslatable: true });
}

function parseArgs(json: string, name: string): JsonObject {
  try {
    const v = JSON.parse(json === '' ? '{}' : json) as unknown;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      return v as JsonObject;
    }
  } catch {
    // reported below
  }
  throw invalid(`the arguments of tool call '${name}' are not a JSON object (Ollama needs one)`);
}

function messageOf(m: ChatMessage, callNames: Map<string, string>): OllamaMessage {
  const out: OllamaMessage = { role: m.role, content: '' };
  const content = toolResultContent(m);
  if (typeof content === 'string') {
    out.content = content;
  } else if (content !== null) {
    const images: string[] = [];
    const texts: string[] = [];
    for (const part of content) {
      if (part.type === 'text') {
        texts.push(part.text);
      } else if (part.type === 'image_url') {
        const data = dataUrlOf(part.image_url.url);
        if (data === null) {
          // Ollama fetches nothing itself: it takes images only as base64.
          throw invalid('Ollama takes images only as data URLs (data:<mime>;base64,...), not http(s) URLs');
        }
        images.push(data.base64);
      } else {
        throw invalid(`Ollama does not take '${part.type}' content parts`);
      }
    }
    // A tool result's texts one per line, as `/v1/messages` joins an all-text one (TOOL_RESULT_TEXT_SEPARATOR);
    // other turns' parts run together, as before.
    out.content = texts.join(m.role === 'tool' ? TOOL_RESULT_TEXT_SEPARATOR : '');
    if (images.length > 0) {
      out.images = images;
    }
  }
  if (m.tool_calls !== undefined && m.tool_calls.length > 0) {
    out.tool_calls = m.tool_calls.map((c) => {
      callNames.set(c.id, c.function.name);
      return { function: { name: c.function.name, arguments: parseArgs(c.function.arguments, c.function.name) } };
    });
  }
  if (m.role === 'tool') {
    const name = callNames.get(m.tool_call_id ?? '') ?? m.name;
    if (name !== undefined) {
      out.tool_name = name;
    }
  }
  return out;
}

/** A GPT-OSS model by its Ollama name (`gpt-oss:20b`, `gpt-oss:120b-cloud`, `hf.co/unsloth/gpt-oss-20b-GGUF:Q4_K_M`). */
const GPT_OSS = /(?:^|\/)gpt-oss[^/]*$/i;

/**
 * Ollama's `think` for an effort (docs.ollama.com, Thinking): GPT-OSS takes a named level, `low`, `medium` (its
 * default, what `true` means) or `high`, and ignored the effort as `true`; every other model takes on or off, and Ollama
 * refuses a level for it (400 "think value ... is not supported for this model": string values go to its harmony
 * parser only). The model is told by its name, as Ollama's own check reads the model's family (`gptoss`): a GPT-OSS
 * under another name gets `true`, its default level. `minimal` and `xhigh`, which Ollama has no level for, are the
 * nearest. A regular expression per request that asks for an effort.
 */
function thinkOf(effort: ReasoningEffort | undefined, model: string): boolean | 'low' | 'medium' | 'high' | undefined {
  if (effort === undefined) {
    return undefined;
  }
  if (effort === 'none') {
    return false;
  }
  if (!GPT_OSS.test(model)) {
    return true;
  }
  return effort === 'minimal' ? 'low' : effort === 'xhigh' ? 'high' : effort;
}

/**
 * The `/api/chat` body. Sampling fields go under `options` with Ollama's names (`num_predict` is the budget), and the
 * deployment's context window as `num_ctx`: the same value on every request, since Ollama reloads a model whose
 * `num_ctx` changes.
 */
export function ollamaBody(req: AdapterRequest, stream: boolean): string {
  const o = req.options;
  const callNames = new Map<string, string>();
  const toolChoice = o.toolChoice;
  if (toolChoice !== undefined && toolChoice !== 'auto' && toolChoice !== 'none') {
    // Routing keeps forced tool choices away from Ollama (it has no tool_choice); this is the backstop.
    throw invalid('Ollama cannot force a tool call (tool_choice required or a named function)');
  }
  const format = o.responseFormat;
  return JSON.stringify({
    model: req.target.model,
    messages: req.messages.map((m) => messageOf(m, callNames)),
    tools: toolChoice === 'none' || o.tools === undefined || o.tools.length === 0 ? undefined : o.tools,
    format:
      format === undefined || format.type === 'text'
        ? undefined
        : format.type === 'json_object'
          ? 'json'
          : (format.json_schema.schema ?? 'json'),
    options: {
      temperature: o.temperature,
      top_p: o.topP,
      top_k: o.topK,
      num_predict: o.maxTokens,
      stop: o.stop !== undefined && o.stop.length > 0 ? o.stop : undefined,
      seed: o.seed,
      presence_penalty: o.presencePenalty,
      frequency_penalty: o.frequencyPenalty,
      num_ctx: req.target.contextWindow,
    },
    think: thinkOf(o.reasoningEffort, req.target.model),
    stream,
  });
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

/** Ollama counts the prompt (`prompt_eval_count`) and the answer (`eval_count`); it has no prompt cache to report. */
function usageOf(body: WireChat): Usage {
  const promptTokens = num(body.prompt_eval_count);
  const completionTokens = num(body.eval_count);
  return { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens, cachedPromptTokens: 0 };
}

function finishReasonOf(reason: string | undefined, madeCalls: boolean): string {
  if (reason === 'length') {
    return 'length';
  }
  // `stop`, and `load`/`unload` (a model load or unload request answered without generating).
  return madeCalls ? 'tool_calls' : 'stop';
}

function inBandError(error: unknown, apiKey: string | undefined, status?: number): ProviderCallError {
  const message = errorDetailOf({ error })?.message ?? 'unknown';
  return new ProviderCallError(ErrorClass.Provider, `upstream error: ${safeMessage(message, apiKey)}`, { status });
}

function argumentsOf(args: unknown): string {
  return typeof args === 'string' ? args : JSON.stringify(args ?? {});
}

/** The provider's `created_at` in epoch seconds, if it sent a readable one. */
function providerCreatedOf(body: WireChat): number | undefined {
  const at = typeof body.created_at === 'string' ? Date.parse(body.created_at) : NaN;
  return Number.isNaN(at) ? undefined : Math.floor(at / 1000);
}

function createdOf(body: WireChat): number {
  return providerCreatedOf(body) ?? Math.floor(Date.now() / 1000);
}

function parseChunk(data: string): WireChat {
  let chunk: WireChat | null;
  try {
    chunk = JSON.parse(data) as WireChat | null;
  } catch (err) {
    throw new ProviderCallError(ErrorClass.Provider, 'upstream sent a stream line that is not JSON', { cause: err });
  }
  if (typeof chunk !== 'object' || chunk === null) {
    throw new ProviderCallError(ErrorClass.Provider, 'upstream sent a stream line that is not an object');
  }
  return chunk;
}

/**
 * A `stream: false` answer. Ollama gives calls no ids: ours are unique within the answer. `apiKey`: the key the call
 * sent (a proxy in front of Ollama may echo it), hidden from an in-band error's message.
 */
export function readChat(
  json: unknown,
  status: number,
  apiKey: string | undefined,
): Omit<AdapterResponse, 'rateLimit'> {
  const body = json as WireChat | null;
  if (typeof body !== 'object' || body === null) {
    throw new ProviderCallError(ErrorClass.Provider, `upstream HTTP ${status}: body is not a chat response`, {
      status,
    });
  }
  if (body.error !== undefined && body.error !== null) {
    throw inBandError(body.error, apiKey, status);
  }
  if (body.message === undefined || body.message === null) {
    throw new ProviderCallError(ErrorClass.Provider, `upstream HTTP ${status}: chat response has no message`, {
      status,
    });
  }
  const calls: ToolCall[] = (body.message.tool_calls ?? []).map((c) => ({
    id: newToolCallId(),
    type: 'function',
    function: { name: c.function?.name ?? '', arguments: argumentsOf(c.function?.arguments) },
  }));
  const res: Omit<AdapterResponse, 'rateLimit'> = {
    id: '',
    created: createdOf(body),
    text: typeof body.message.content === 'string' ? body.message.content : '',
    finishReason: finishReasonOf(body.done_reason, calls.length > 0),
    usage: usageOf(body),
  };
  if (calls.length > 0) {
    res.toolCalls = calls;
  }
  if (typeof body.message.thinking === 'string' && body.message.thinking.length > 0) {
    res.reasoning = body.message.thinking;
  }
  return res;
}

/** NDJSON lines until one with `done: true`, which carries the finish reason and the counts. */
export class OllamaStreamDecoder implements StreamDecoder {
  readonly terminal = 'done: true';
  readonly framing = 'ndjson' as const;
  private calls = 0;
  /** The first line's `created_at` (epoch seconds), given to the first delta: the stream head's `created`. */
  private created: number | undefined;
  private headSent = false;

  /** `apiKey`: the key the call sent, hidden from in-band error messages. */
  constructor(private readonly apiKey: string | undefined) {}

  onEvent(event: SseEvent, out: StreamDelta[]): boolean {
    const chunk = parseChunk(event.data);
    if (chunk.error !== undefined && chunk.error !== null) {
      throw inBandError(chunk.error, this.apiKey);
    }
    const m = chunk.message;
    const delta: StreamDelta = { text: typeof m?.content === 'string' ? m.content : '' };
    if (typeof m?.thinking === 'string' && m.thinking.length > 0) {
      delta.reasoning = m.thinking;
    }
    const calls: ToolCallDelta[] = (m?.tool_calls ?? []).map((c) => {
      const index = this.calls++;
      return {
        index,
        id: newToolCallId(),
        name: c.function?.name ?? '',
        arguments: argumentsOf(c.function?.arguments),
      };
    });
    if (calls.length > 0) {
      delta.toolCalls = calls;
    }
    if (chunk.done === true) {
      delta.finishReason = finishReasonOf(chunk.done_reason, this.calls > 0);
      delta.usage = usageOf(chunk);
    }
    if (!this.headSent) {
      // A field read per line only until the first delta goes out (lines before it may carry nothing to pass on).
      this.created ??= providerCreatedOf(chunk);
    }
    if (delta.text.length > 0 || delta.reasoning !== undefined || calls.length > 0 || chunk.done === true) {
      if (!this.headSent) {
        this.headSent = true;
        if (this.created !== undefined) {
          delta.created = this.created;
        }
      }
      out.push(delta);
    }
    return chunk.done === true;
  }
}

/** `GET /api/tags`: the models pulled on this server. */
export function readTags(json: unknown, status: number): string[] {
  const models = (json as { models?: unknown } | null)?.models;
  if (!Array.isArray(models)) {
    throw new ProviderCallError(ErrorClass.Provider, `upstream HTTP ${status}: tag list has no models array`, {
      status,
    });
  }
  const names: string[] = [];
  for (const m of models) {
    const name = (m as { name?: unknown; model?: unknown } | null)?.name ?? (m as { model?: unknown } | null)?.model;
    if (typeof name === 'string') {
      names.push(name);
    }
  }
  return names;
}
