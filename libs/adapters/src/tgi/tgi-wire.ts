import { ErrorClass, ProviderCallError, type ChatMessage, type StreamDelta, type Usage } from '@aigw/core';
import { classifyTgiValidation } from '../errors/classify';
import { errorDetailOf, safeMessage } from '../errors/provider-message';
import type { StreamDecoder } from '../http/calls';
import type { SseEvent } from '../sse/sse-parser';
import type { AdapterRequest, AdapterResponse } from '../types';

/** HuggingFace text-generation-inference's native API: `POST /generate`, `POST /generate_stream` (SSE). */

interface WireDetails {
  finish_reason?: string;
  generated_tokens?: number;
  /** Stream details only. */
  input_length?: number;
  /** With `decoder_input_details`: the prompt's tokens. */
  prefill?: unknown[];
}

interface WireGeneration {
  generated_text?: string | null;
  details?: WireDetails | null;
  token?: { text?: string; special?: boolean } | null;
  error?: unknown;
  error_type?: string;
}

function invalid(message: string): ProviderCallError {
  return new ProviderCallError(ErrorClass.InvalidRequest, message, { untranslatable: true });
}

function textOf(m: ChatMessage): string {
  if (m.content === null || typeof m.content === 'string') {
    return m.content ?? '';
  }
  return m.content
    .map((p) => {
      if (p.type !== 'text') {
        throw invalid(`TGI's /generate takes text only, not '${p.type}' content parts`);
      }
      return p.text;
    })
    .join('');
}

const SPEAKER: Record<ChatMessage['role'], string> = {
  system: 'System',
  user: 'User',
  assistant: 'Assistant',
  tool: 'Tool',
};

/**
 * `/generate` takes one text, not messages: the conversation is written out as a plain transcript ending with
 * `Assistant:`. A model that needs its own chat template is better served by TGI's OpenAI-compatible
 * `/v1/chat/completions` (kind `openai`), which applies the template server-side.
 */
export function tgiPrompt(messages: readonly ChatMessage[]): string {
  const lines: string[] = [];
  for (const m of messages) {
    if (m.tool_calls !== undefined && m.tool_calls.length > 0) {
      throw invalid("TGI's /generate has no tool calls");
    }
    lines.push(`${SPEAKER[m.role]}: ${textOf(m)}`);
  }
  lines.push('Assistant:');
  return lines.join('\n\n');
}

/**
 * The `/generate` and `/generate_stream` body. TGI rejects temperature 0 and top_p 1: those mean greedy decoding.
 * Without the client's `max_tokens`, `max_new_tokens: null` asks for the rest of the window, not TGI's default of 100.
 * `decoder_input_details` only without streaming: `/generate_stream` answers it with a validation error event.
 */
export function tgiBody(req: AdapterRequest, stream: boolean): string {
  const o = req.options;
  if (o.tools !== undefined && o.tools.length > 0) {
    throw invalid("TGI's /generate has no tools");
  }
  const sampling =
    (o.temperature !== undefined && o.temperature > 0) ||
    (o.topP !== undefined && o.topP < 1) ||
    (o.topK !== undefined && o.topK > 0);
  const format = o.responseFormat;
  const grammar =
    format === undefined || format.type === 'text'
      ? undefined
      : { type: 'json', value: format.type === 'json_schema' ? (format.json_schema.schema ?? {}) : { type: 'object' } };
  return JSON.stringify({
    inputs: tgiPrompt(req.messages),
    parameters: {
      // `null`, not left out: TGI reads an absent `max_new_tokens` as 100 (its serde default), cutting every answer of a
      // client that set no limit there (`length`); `null` is its "no limit", up to the model's window, as OpenAI's is.
      max_new_tokens: o.maxTokens ?? null,
      do_sample: sampling,
      temperature: o.temperature !== undefined && o.temperature > 0 ? o.temperature : undefined,
      top_p: o.topP !== undefined && o.topP > 0 && o.topP < 1 ? o.topP : undefined,
      top_k: o.topK !== undefined && o.topK > 0 ? o.topK : undefined,
      stop: o.stop !== undefined && o.stop.length > 0 ? o.stop : undefined,
      seed: o.seed,
      frequency_penalty: o.frequencyPenalty,
      grammar,
      return_full_text: false,
      details: true,
      // The prompt's tokens come back in details.prefill: the only prompt count the non-streamed API gives (a stream's
      // details carry input_length instead).
      decoder_input_details: stream ? undefined : true,
    },
  });
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

function usageOf(details: WireDetails | null | undefined): Usage {
  const promptTokens = Array.isArray(details?.prefill) ? details.prefill.length : num(details?.input_length);
  const completionTokens = num(details?.generated_tokens);
  return { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens, cachedPromptTokens: 0 };
}

/** `eos_token` and `stop_sequence` are OpenAI's `stop`. */
function finishReasonOf(reason: string | undefined): string | null {
  if (reason === undefined) {
    return null;
  }
  return reason === 'length' ? 'length' : 'stop';
}

/**
 * An error TGI reported in band: a stream's event (with status 200), or a body. A `validation` one is the request's
 * (`classifyTgiValidation`); `overloaded` is TGI's queue being full: a rate limit, worth waiting for; any other
 * (`generation`, `incomplete_generation`) the server's fault.
 */
function inBandError(body: WireGeneration, apiKey: string | undefined, status?: number): ProviderCallError {
  const message = `upstream error: ${safeMessage(errorDetailOf({ error: body.error })?.message ?? 'unknown', apiKey)}`;
  const validation = classifyTgiValidation(body.error, body.error_type, apiKey);
  if (validation !== undefined) {
    return new ProviderCallError(validation.errorClass, message, { status, param: validation.param });
  }
  const errorClass = body.error_type === 'overloaded' ? ErrorClass.RateLimit : ErrorClass.Provider;
  return new ProviderCallError(errorClass, message, { status });
}

/**
 * TGI's text keeps the stop sequence that ended it (the last tokens generated); OpenAI's and Anthropic's answers do
 * not, and clients split on it. The one it ends with is cut and named.
 */
function endingStop(text: string, reason: string | undefined, stops: readonly string[] | undefined): string | null {
  if (reason !== 'stop_sequence' || stops === undefined) {
    return null;
  }
  let found: string | null = null;
  for (const s of stops) {
    if (s !== '' && text.endsWith(s) && (found === null || s.length > found.length)) {
      found = s;
    }
  }
  return found;
}

/**
 * A `/generate` body. Hosted TGI (the serverless Inference API) wraps it in a list of one. `apiKey`: the key the call
 * sent, hidden from an in-band error's message.
 */
export function readGeneration(
  json: unknown,
  status: number,
  stops: readonly string[] | undefined,
  apiKey: string | undefined,
): Omit<AdapterResponse, 'rateLimit'> {
  const body = (Array.isArray(json) ? json[0] : json) as WireGeneration | null | undefined;
  if (typeof body !== 'object' || body === null) {
    throw new ProviderCallError(ErrorClass.Provider, `upstream HTTP ${status}: body is not a generation`, { status });
  }
  if (body.error !== undefined && body.error !== null) {
    throw inBandError(body, apiKey, status);
  }
  if (typeof body.generated_text !== 'string') {
    throw new ProviderCallError(ErrorClass.Provider, `upstream HTTP ${status}: generation has no generated_text`, {
      status,
    });
  }
  const stop = endingStop(body.generated_text, body.details?.finish_reason, stops);
  const res: Omit<AdapterResponse, 'rateLimit'> = {
    id: '',
    created: Math.floor(Date.now() / 1000),
    text: stop === null ? body.generated_text : body.generated_text.slice(0, -stop.length),
    finishReason: finishReasonOf(body.details?.finish_reason) ?? 'stop',
    usage: usageOf(body.details),
  };
  if (stop !== null) {
    res.stopSequence = stop;
  }
  return res;
}

/**
 * One event per token; the last one also carries `generated_text` and `details` (finish reason, counts). With stop
 * sequences, text that may be the start of one is held back until it is known not to be, so the one TGI ends with
 * (it keeps it in the text) is never relayed.
 */
export class TgiStreamDecoder implements StreamDecoder {
  readonly terminal = 'the details event';
  /** Text not relayed yet: it may be (the start of) a stop sequence. */
  private held = '';
  private readonly stops: readonly string[];

  /** `apiKey`: the key the call sent, hidden from in-band error messages. */
  constructor(
    stops: readonly string[] | undefined,
    private readonly apiKey: string | undefined,
  ) {
    this.stops = (stops ?? []).filter((s) => s !== '');
  }

  /** The held text that can go: all but its longest end that begins some stop sequence. */
  private release(): string {
    let keep = 0;
    for (const s of this.stops) {
      for (let k = Math.min(s.length, this.held.length); k > keep; k--) {
        if (s.startsWith(this.held.slice(this.held.length - k))) {
          keep = k;
          break;
        }
      }
    }
    const out = this.held.slice(0, this.held.length - keep);
    this.held = this.held.slice(this.held.length - keep);
    return out;
  }

  onEvent(event: SseEvent, out: StreamDelta[]): boolean {
    let chunk: WireGeneration;
    try {
      chunk = JSON.parse(event.data) as WireGeneration;
    } catch (err) {
      throw new ProviderCallError(ErrorClass.Provider, 'upstream sent a stream chunk that is not JSON', { cause: err });
    }
    if (typeof chunk !== 'object' || chunk === null) {
      throw new ProviderCallError(ErrorClass.Provider, 'upstream sent a stream chunk that is not an object');
    }
    if (chunk.error !== undefined && chunk.error !== null) {
      throw inBandError(chunk, this.apiKey);
    }
    // Special tokens (end of sequence and the like) are not answer text.
    let text = chunk.token?.special === true ? '' : (chunk.token?.text ?? '');
    const done = chunk.details !== undefined && chunk.details !== null;
    let stop: string | null = null;
    if (this.stops.length > 0) {
      this.held += text;
      if (done) {
        stop = endingStop(this.held, chunk.details?.finish_reason, this.stops);
        text = stop === null ? this.held : this.held.slice(0, -stop.length);
        this.held = '';
      } else {
        text = this.release();
      }
    }
    const delta: StreamDelta = { text };
    if (done) {
      delta.finishReason = finishReasonOf(chunk.details?.finish_reason) ?? 'stop';
      delta.usage = usageOf(chunk.details);
      if (stop !== null) {
        delta.stopSequence = stop;
      }
    }
    if (text.length > 0 || done) {
      out.push(delta);
    }
    return done;
  }
}

/** TGI's validation errors about the grammar: `ValidationError::InvalidGrammar` and `::Grammar` (router validation.rs). */
const GRAMMAR_REFUSED = /grammar is not (?:valid|supported)/i;

/**
 * TGI's refusal of the grammar a JSON `response_format` was sent as, taken for what it is: this deployment cannot
 * express the request (`untranslatable`, naming `response_format`), not the client's mistake. TGI 3 compiles the
 * grammar in its router and refuses a JSON schema without `properties` ("Grammar must have a 'properties' field"),
 * which JSON mode without a schema (`json_object`) is, and a server started with `--disable-grammar-support` refuses
 * every grammar. As the client's 400 such a request failed on the deployment with no other tried; now routing moves
 * on to a deployment that takes it, or answers a 400 naming `response_format`. Any other error is returned as it is.
 */
export function grammarRefusal(err: unknown, req: AdapterRequest): unknown {
  const format = req.options.responseFormat;
  if (
    !(err instanceof ProviderCallError) ||
    err.errorClass !== ErrorClass.InvalidRequest ||
    err.untranslatable ||
    format === undefined ||
    format.type === 'text' ||
    !GRAMMAR_REFUSED.test(err.message)
  ) {
    return err;
  }
  return new ProviderCallError(ErrorClass.InvalidRequest, err.message, {
    status: err.status,
    untranslatable: true,
    param: 'response_format',
    cause: err,
  });
}

/** `GET /info`: the one model this server runs. */
export function readInfo(json: unknown, status: number): string[] {
  const id = (json as { model_id?: unknown } | null)?.model_id;
  if (typeof id !== 'string') {
    throw new ProviderCallError(ErrorClass.Provider, `upstream HTTP ${status}: info has no model_id`, { status });
  }
  return [id];
}
