import { type Answer } from './answers';
import { type SimTool, type ToolCallAnswer } from './behaviours';

/** What the simulator needs from a chat request, whichever wire format it came in. */
export interface ParsedRequest {
  model: string;
  stream: boolean;
  /** Cap on completion tokens asked for by the client, if any. */
  maxTokens: number | null;
  /** OpenAI `stream_options.include_usage`; Anthropic streams always carry usage. */
  includeUsage: boolean;
  promptChars: number;
  lastUserText: string;
  /** Tools offered, unless tool choice is `none`. */
  tools: SimTool[];
  /** The tool a tool choice forces, if any. */
  forcedTool: string | null;
  /** The text of the tool result the conversation ends with; null when it ends otherwise. */
  lastToolResult: string | null;
  /** JSON mode: null when off; `{schema: null}` for json_object. */
  json: { schema: unknown } | null;
  /** Reasoning asked for (OpenAI-compatible `reasoning_effort`). */
  reasoning: boolean;
  /** The answer lists the prompt's tokens (TGI `decoder_input_details`). */
  promptTokenList?: boolean;
  /** Stop sequences (Anthropic `stop_sequences`): an echoed answer ends before the first one it holds. */
  stop?: string[];
  /** OpenAI `logprobs: true` (Gemini `responseLogprobs`): each answer token comes with a log probability. */
  logprobs?: boolean;
  /** Gemini `logprobs`: how many top candidates each step lists. */
  topLogprobs?: number;
}

/** Why a request body was rejected (answered 400, or `status`, in the provider's error shape). */
export interface WireProblem {
  problem: string;
  param: string | null;
  /** The status the provider answers this problem with; 400 when absent (TGI says 422). */
  status?: number;
  /**
   * A provider that reports this problem inside a 200 event stream (TGI's streaming validation errors): the whole
   * stream body. The answer is then `200` with this body instead of an error status.
   */
  streamBody?: string;
}

/** What the URL says about a call, for wire formats that put the model or streaming in the path (Gemini, TGI). */
export interface RouteHints {
  model?: string;
  stream?: boolean;
}

/** One answer being served. */
export interface Generation {
  id: string;
  created: number;
  model: string;
  answer: Answer;
  promptTokens: number;
  cachedTokens: number;
  /** The answer was cut by the client's max_tokens. */
  truncated: boolean;
  includeUsage: boolean;
  /** OpenAI wire: leave usage out of the answer and the stream (SimulatorConfig.reportUsage false). */
  omitUsage?: boolean;
  /** The answer is this tool call (its argument pieces are `answer`'s tokens) instead of text. */
  toolCall?: ToolCallAnswer;
  /** Reasoning sent before the answer. */
  reasoning?: Answer;
  /** The answer lists the prompt's tokens (TGI `decoder_input_details`). */
  promptTokenList?: boolean;
  /** The stop sequence the answer ended at (it is not part of the answer). */
  stopSequence?: string;
  /** Log probabilities with the answer's tokens (OpenAI and Gemini wires). */
  logprobs?: boolean;
  /** Gemini: top candidates per step asked for. */
  topLogprobs?: number;
}

/** The serialised pieces of one answer, in the wire format it was asked in. */
export interface Rendering {
  json(): string;
  /** Everything before the first content chunk (role chunk; message_start, content_block_start, ping). */
  streamStart(): string;
  streamToken(index: number): string;
  /** Everything after the last content chunk, through [DONE] / message_stop. */
  streamEnd(): string;
  /** An in-band error event ending a stream that already started. */
  streamError(status: number): string;
  /** An SSE event whose data line is not valid JSON. */
  streamBroken(): string;
  /**
   * Content chunks of the stream (calls to `streamToken`); `answer.length` when absent. Formats that send a tool call
   * whole (Gemini, Ollama) send it in one chunk.
   */
  readonly chunks?: number;
}

export type WireName = 'openai' | 'anthropic' | 'gemini' | 'ollama' | 'tgi';

export interface WireFormat {
  readonly name: WireName;
  readonly idPrefix: string;
  /** How the provider's tool call ids start (Anthropic's `toolu_`); `call_sim` when absent. */
  readonly toolIdPrefix?: string;
  parse(body: unknown, hints?: RouteHints): ParsedRequest | WireProblem;
  render(gen: Generation): Rendering;
  /**
   * Error body shaped like this provider's real errors; `param` names a rejected field where the format has one.
   * `retryAfterS` is given to formats that say when to come back in the body (`retryAfterInBody`).
   */
  errorBody(status: number, message?: string, param?: string | null, retryAfterS?: number | null): string;
  /** The provider says when to retry in the error body (Gemini's RetryInfo), not with a Retry-After header. */
  readonly retryAfterInBody?: boolean;
  /** How the provider refuses a request without credentials; `401` with the default message when absent. */
  readonly authFailure?: { status: number; message: string };
}

export function isProblem(v: ParsedRequest | WireProblem): v is WireProblem {
  return (v as WireProblem).problem !== undefined;
}

export function asRecord(v: unknown): Record<string, unknown> | null {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

/**
 * Claude models that take only one of `temperature` and `top_p`, as Anthropic names them (Opus 4.1, the 4.5 generation
 * and later majors), also inside a Bedrock or Vertex id (`anthropic.claude-sonnet-4-5-20250929-v1:0`,
 * `claude-sonnet-4-5@20250929`). Written from Anthropic's model list, not from the gateway's rule, so a test catches
 * the gateway's rule missing one.
 */
const ONE_SAMPLING_CLAUDE = /claude-(?:opus-4-1|(?:opus|sonnet|haiku)-4-[5-9]|(?:opus|sonnet|haiku)-[5-9])(?![0-9])/;

/**
 * Anthropic's 400 for a request that sets both `temperature` and `top_p` (whatever their values) for such a model.
 * The Anthropic wire checks it, and so does the OpenAI one, as a LiteLLM proxy in front of Claude passes both on and
 * answers Claude's 400.
 */
export function samplingProblem(body: Record<string, unknown>): WireProblem | null {
  const both =
    body.temperature !== undefined && body.temperature !== null && body.top_p !== undefined && body.top_p !== null;
  if (!both || typeof body.model !== 'string' || !ONE_SAMPLING_CLAUDE.test(body.model)) {
    return null;
  }
  return {
    problem: '`temperature` and `top_p` cannot both be specified for this model. Please use only one.',
    param: null,
  };
}

/** A positive integer token limit, null when absent, or a problem when present but invalid. */
export function tokenLimit(body: Record<string, unknown>, key: string): number | null | WireProblem {
  const v = body[key];
  if (v === undefined || v === null) {
    return null;
  }
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    return { problem: `${key} must be a positive integer`, param: key };
  }
  return v;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad request',
  401: 'Invalid API key',
  403: 'Permission denied',
  404: 'Not found',
  408: 'Request timed out',
  409: 'Conflict',
  413: 'Request too large',
  422: 'Unprocessable request',
  429: 'Rate limit reached',
  500: 'Internal server error',
  502: 'Bad gateway',
  503: 'The server is overloaded or not ready yet',
  504: 'Gateway timeout',
  529: 'Overloaded',
};

/** Default error message; every one says it came from the simulator. */
export function simulatedMessage(status: number): string {
  return `${STATUS_TEXT[status] ?? `Error ${status}`} (provider simulator)`;
}
