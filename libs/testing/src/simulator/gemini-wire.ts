import { contentText } from './answers';
import { type SimTool } from './behaviours';
import {
  asRecord,
  type Generation,
  type ParsedRequest,
  type Rendering,
  type RouteHints,
  simulatedMessage,
  type WireFormat,
  type WireProblem,
} from './wire';

/*
 * Google's Gemini API (v1beta), as ai.google.dev/api documents it and the gemini adapter speaks it:
 * `POST /v1beta/models/{model}:generateContent` → a GenerateContentResponse (`candidates[].content.parts[]`,
 * `finishReason`, `usageMetadata`, camelCase); `:streamGenerateContent?alt=sse` → one whole GenerateContentResponse
 * per `data:` event (CRLF framed), the last carrying the finish reason and the full usage, and no terminal event;
 * `GET /v1beta/models` → `{models: [{name: "models/..."}]}`. Errors are google.rpc.Status bodies
 * (`{"error": {code, message, status, details}}`); a 429 says when to come back in a RetryInfo detail, not a header.
 */

const STATUS_NAMES: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ABORTED',
  429: 'RESOURCE_EXHAUSTED',
  499: 'CANCELLED',
  500: 'INTERNAL',
  501: 'UNIMPLEMENTED',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

function statusName(status: number): string {
  return STATUS_NAMES[status] ?? (status >= 500 ? 'INTERNAL' : 'FAILED_PRECONDITION');
}

function details(status: number, message: string, param: string | null, retryAfterS: number | null): unknown[] {
  if (status === 400 && param !== null) {
    return [
      {
        '@type': 'type.googleapis.com/google.rpc.BadRequest',
        fieldViolations: [{ field: param, description: message }],
      },
    ];
  }
  if (status !== 429) {
    return [];
  }
  const out: unknown[] = [
    {
      '@type': 'type.googleapis.com/google.rpc.QuotaFailure',
      violations: [
        {
          quotaMetric: 'generativelanguage.googleapis.com/generate_content_free_tier_requests',
          quotaId: 'GenerateRequestsPerMinutePerProjectPerModel-FreeTier',
          quotaValue: '10',
        },
      ],
    },
  ];
  if (retryAfterS !== null) {
    out.push({ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: `${retryAfterS}s` });
  }
  return out;
}

function errorJson(status: number, message?: string, param: string | null = null, retryAfterS: number | null = null) {
  const text = message ?? simulatedMessage(status);
  const extra = details(status, text, param, retryAfterS);
  return JSON.stringify({
    error: { code: status, message: text, status: statusName(status), ...(extra.length > 0 ? { details: extra } : {}) },
  });
}

const sse = (json: string): string => `data: ${json}\r\n\r\n`;

class GeminiRendering implements Rendering {
  readonly chunks: number;
  /** `,"modelVersion":...,"responseId":...}` closing every response of this answer. */
  private readonly tail: string;

  constructor(private readonly gen: Generation) {
    // Gemini sends a function call whole, in one event.
    this.chunks = gen.toolCall === undefined ? gen.answer.length : 1;
    this.tail = `,"modelVersion":${JSON.stringify(gen.model)},"responseId":"${gen.id}"}`;
  }

  private finishReason(): string {
    return this.gen.truncated ? 'MAX_TOKENS' : 'STOP';
  }

  /**
   * `promptTokenCount` includes the cached part; thinking tokens are reported beside the candidates' (and billed as
   * output), so the total is prompt + candidates + thoughts.
   */
  private usage(): string {
    const g = this.gen;
    const thoughts = g.reasoning?.length ?? 0;
    const candidates = g.answer.length;
    return (
      `{"promptTokenCount":${g.promptTokens},"candidatesTokenCount":${candidates},` +
      `"totalTokenCount":${g.promptTokens + candidates + thoughts}` +
      (g.cachedTokens > 0 ? `,"cachedContentTokenCount":${g.cachedTokens}` : '') +
      (thoughts > 0 ? `,"thoughtsTokenCount":${thoughts}` : '') +
      `,"promptTokensDetails":[{"modality":"TEXT","tokenCount":${g.promptTokens}}]}`
    );
  }

  /** Mid-stream responses carry the prompt count only; the last one the full usage. */
  private partialUsage(): string {
    const p = this.gen.promptTokens;
    return `{"promptTokenCount":${p},"totalTokenCount":${p}}`;
  }

  private response(parts: string, finish: string | null, usage: string, tokens: readonly string[] = []): string {
    const reason = finish === null ? '' : `,"finishReason":"${finish}"`;
    return (
      `{"candidates":[{"content":{"parts":[${parts}],"role":"model"}${reason}${this.logprobsOf(tokens)},"index":0}],` +
      `"usageMetadata":${usage}${this.tail}`
    );
  }

  /**
   * With `responseLogprobs`: the candidate's `logprobsResult` for these (JSON-encoded) tokens, a fixed, plausible log
   * probability each, and as top candidates (with `logprobs`: N) the token itself.
   */
  private logprobsOf(tokens: readonly string[]): string {
    if (this.gen.logprobs !== true || this.gen.toolCall !== undefined || tokens.length === 0) {
      return '';
    }
    const chosen = tokens.map((t, i) => `{"token":${t},"tokenId":${i},"logProbability":-0.25}`);
    const top = this.gen.topLogprobs === undefined || this.gen.topLogprobs === 0 ? [] : chosen;
    return (
      `,"logprobsResult":{"topCandidates":[${top.map((c) => `{"candidates":[${c}]}`).join(',')}],` +
      `"chosenCandidates":[${chosen.join(',')}]}`
    );
  }

  private answerPart(): string {
    const call = this.gen.toolCall;
    return call === undefined
      ? `{"text":${this.gen.answer.textJson}}`
      : `{"functionCall":{"name":${JSON.stringify(call.name)},"args":${this.gen.answer.text}}}`;
  }

  json(): string {
    const reasoning = this.gen.reasoning;
    const parts = reasoning === undefined ? '' : `{"text":${reasoning.textJson},"thought":true},`;
    return this.response(parts + this.answerPart(), this.finishReason(), this.usage(), this.gen.answer.tokenJson);
  }

  /** A thought summary, when thoughts were asked for, comes first and whole. */
  streamStart(): string {
    const reasoning = this.gen.reasoning;
    return reasoning === undefined
      ? ''
      : sse(this.response(`{"text":${reasoning.textJson},"thought":true}`, null, this.partialUsage()));
  }

  streamToken(index: number): string {
    const token = this.gen.answer.tokenJson[index];
    const part = this.gen.toolCall === undefined ? `{"text":${token}}` : this.answerPart();
    return sse(this.response(part, null, this.partialUsage(), [token]));
  }

  streamEnd(): string {
    return sse(this.response('{"text":""}', this.finishReason(), this.usage()));
  }

  streamError(status: number): string {
    return sse(errorJson(status));
  }

  streamBroken(): string {
    return 'data: {"candidates":[{"content":{"parts":[{"text":"brok\r\n\r\n';
  }
}

const TOP_LEVEL_FIELDS = new Set([
  'contents',
  'tools',
  'toolConfig',
  'safetySettings',
  'systemInstruction',
  'generationConfig',
  'cachedContent',
]);

const GENERATION_CONFIG_FIELDS = new Set([
  'stopSequences',
  'responseMimeType',
  'responseSchema',
  'responseJsonSchema',
  'responseModalities',
  'candidateCount',
  'maxOutputTokens',
  'temperature',
  'topP',
  'topK',
  'seed',
  'presencePenalty',
  'frequencyPenalty',
  'responseLogprobs',
  'logprobs',
  'enableEnhancedCivicAnswers',
  'speechConfig',
  'thinkingConfig',
  'mediaResolution',
]);

/** Google's JSON parser refuses fields its proto does not have, naming them: so does the simulator. */
function unknownField(body: Record<string, unknown>, known: Set<string>, at: string): WireProblem | null {
  for (const key of Object.keys(body)) {
    if (!known.has(key)) {
      const where = at === '' ? '' : ` at '${at}'`;
      return {
        problem: `Invalid JSON payload received. Unknown name "${key}"${where}: Cannot find field.`,
        param: at === '' ? key : `${at}.${key}`,
      };
    }
  }
  return null;
}

/** A tool result as text: the `{content}` wrapper the gateway puts plain text in is unwrapped. */
function responseText(response: unknown): string {
  const r = asRecord(response);
  if (r !== null && typeof r.content === 'string' && Object.keys(r).length === 1) {
    return r.content;
  }
  return JSON.stringify(response ?? {});
}

interface Turns {
  promptChars: number;
  lastUserText: string;
  lastToolResult: string | null;
}

function readContents(contents: unknown[]): Turns | WireProblem {
  const turns: Turns = { promptChars: 0, lastUserText: '', lastToolResult: null };
  for (let i = 0; i < contents.length; i++) {
    const content = asRecord(contents[i]);
    const role = content?.role ?? 'user';
    if (content === null || (role !== 'user' && role !== 'model')) {
      return { problem: 'Please use a valid role: user, model.', param: `contents[${i}].role` };
    }
    if (!Array.isArray(content.parts) || content.parts.length === 0) {
      return {
        problem: `* GenerateContentRequest.contents[${i}].parts: contents.parts must not be empty.`,
        param: `contents[${i}].parts`,
      };
    }
    const text = contentText(content.parts);
    let results: string | null = null;
    for (const part of content.parts) {
      const fn = asRecord(asRecord(part)?.functionResponse);
      if (fn !== null) {
        const result = responseText(fn.response);
        results = (results ?? '') + result;
        turns.promptChars += result.length;
      }
    }
    turns.promptChars += text.length;
    if (role === 'user' && results === null) {
      turns.lastUserText = text;
    }
    turns.lastToolResult = results;
  }
  return turns;
}

function toolsOf(raw: unknown): SimTool[] {
  if (!Array.isArray(raw)) {
    return [];
  }
  const tools: SimTool[] = [];
  for (const t of raw) {
    const declarations = asRecord(t)?.functionDeclarations;
    for (const d of Array.isArray(declarations) ? declarations : []) {
      const fn = asRecord(d);
      if (fn !== null && typeof fn.name === 'string') {
        tools.push({ name: fn.name, parameters: fn.parameters ?? fn.parametersJsonSchema });
      }
    }
  }
  return tools;
}

function maxOutputTokens(config: Record<string, unknown>): number | null | WireProblem {
  const v = config.maxOutputTokens;
  if (v === undefined || v === null) {
    return null;
  }
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    return {
      problem: "Invalid value at 'generation_config.max_output_tokens': must be a positive integer",
      param: 'generationConfig.maxOutputTokens',
    };
  }
  return v;
}

function parse(raw: unknown, hints: RouteHints = {}): ParsedRequest | WireProblem {
  const body = asRecord(raw);
  if (body === null) {
    return { problem: 'Invalid JSON payload received. Expected an object.', param: null };
  }
  const unknown = unknownField(body, TOP_LEVEL_FIELDS, '');
  if (unknown !== null) {
    return unknown;
  }
  if (!Array.isArray(body.contents) || body.contents.length === 0) {
    return { problem: '* GenerateContentRequest.contents: contents is not specified', param: 'contents' };
  }
  const config = asRecord(body.generationConfig) ?? {};
  const badConfig = unknownField(config, GENERATION_CONFIG_FIELDS, 'generationConfig');
  if (badConfig !== null) {
    return badConfig;
  }
  const limit = maxOutputTokens(config);
  if (typeof limit === 'object' && limit !== null) {
    return limit;
  }
  const turns = readContents(body.contents as unknown[]);
  if ('problem' in turns) {
    return turns;
  }
  const system = contentText(asRecord(body.systemInstruction)?.parts);
  const calling = asRecord(asRecord(body.toolConfig)?.functionCallingConfig);
  const allowed = calling?.allowedFunctionNames;
  const json = config.responseMimeType === 'application/json';
  return {
    model: hints.model ?? '',
    stream: hints.stream === true,
    maxTokens: limit,
    // Every Gemini answer carries its usage.
    includeUsage: true,
    promptChars: turns.promptChars + system.length,
    lastUserText: turns.lastUserText,
    lastToolResult: turns.lastToolResult,
    tools: calling?.mode === 'NONE' ? [] : toolsOf(body.tools),
    forcedTool: calling?.mode === 'ANY' && Array.isArray(allowed) && typeof allowed[0] === 'string' ? allowed[0] : null,
    json: json ? { schema: config.responseSchema ?? config.responseJsonSchema ?? null } : null,
    reasoning: asRecord(config.thinkingConfig)?.includeThoughts === true,
    ...(config.responseLogprobs === true ? { logprobs: true } : {}),
    ...(typeof config.logprobs === 'number' ? { topLogprobs: config.logprobs } : {}),
  };
}

// A fixed listing keeps it byte-for-byte stable across runs.
const LIMITS = '"inputTokenLimit":1048576,"outputTokenLimit":65536';

/** `GET /v1beta/models`: every configured model, as Gemini names them (`models/<id>`). */
export function geminiModels(ids: readonly string[]): string {
  const models = ids.map(
    (id) =>
      `{"name":${JSON.stringify(`models/${id}`)},"version":"001","displayName":${JSON.stringify(`${id} (simulated)`)},` +
      `"description":"Provider simulator model",${LIMITS},` +
      '"supportedGenerationMethods":["generateContent","countTokens"],"temperature":1,"topP":0.95,"topK":64}',
  );
  return `{"models":[${models.join(',')}]}`;
}

export const geminiWire: WireFormat = {
  name: 'gemini',
  idPrefix: 'sim-gemini-',
  parse,
  render: (gen) => new GeminiRendering(gen),
  errorBody: (status, message, param, retryAfterS) => errorJson(status, message, param ?? null, retryAfterS ?? null),
  retryAfterInBody: true,
  // Gemini refuses a call without a key as an unregistered caller, 403.
  authFailure: {
    status: 403,
    message:
      "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or " +
      'other form of API consumer identity to call this API. (provider simulator)',
  },
};
