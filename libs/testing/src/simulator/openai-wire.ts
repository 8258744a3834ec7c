import { contentText } from './answers';
import { type SimTool } from './behaviours';
import {
  asRecord,
  type Generation,
  type ParsedRequest,
  type Rendering,
  samplingProblem,
  simulatedMessage,
  tokenLimit,
  type WireFormat,
  type WireProblem,
} from './wire';

const FINGERPRINT = '"service_tier":"default","system_fingerprint":"fp_simulator"';

function errorType(status: number): { type: string; code: string | null } {
  if (status === 401) {
    return { type: 'invalid_request_error', code: 'invalid_api_key' };
  }
  if (status === 429) {
    return { type: 'requests', code: 'rate_limit_exceeded' };
  }
  if (status >= 500) {
    return { type: 'server_error', code: null };
  }
  return { type: 'invalid_request_error', code: status === 404 ? 'not_found' : null };
}

function errorJson(status: number, message?: string, param: string | null = null): string {
  const { type, code } = errorType(status);
  return JSON.stringify({ error: { message: message ?? simulatedMessage(status), type, param, code } });
}

function usageJson(gen: Generation): string {
  const p = gen.promptTokens;
  const r = gen.reasoning?.length ?? 0;
  const c = gen.answer.length + r;
  return (
    `{"prompt_tokens":${p},"completion_tokens":${c},"total_tokens":${p + c},` +
    `"prompt_tokens_details":{"cached_tokens":${gen.cachedTokens},"audio_tokens":0},` +
    `"completion_tokens_details":{"reasoning_tokens":${r},"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}`
  );
}

class OpenAiRendering implements Rendering {
  /** `data: {...,"choices":` shared by every chunk of this answer. */
  private readonly head: string;
  /** Closes a choice chunk; OpenAI sends `"usage":null` on every chunk when usage was asked for. */
  private readonly choiceTail: string;

  constructor(private readonly gen: Generation) {
    this.head =
      `data: {"id":"${gen.id}","object":"chat.completion.chunk","created":${gen.created},` +
      `"model":${JSON.stringify(gen.model)},${FINGERPRINT},"choices":`;
    this.choiceTail = gen.includeUsage && gen.omitUsage !== true ? '}],"usage":null}\n\n' : '}]}\n\n';
  }

  private finishReason(): string {
    if (this.gen.toolCall !== undefined) {
      return 'tool_calls';
    }
    return this.gen.truncated ? 'length' : 'stop';
  }

  private delta(json: string): string {
    return `${this.head}[{"index":0,"delta":${json},"logprobs":null,"finish_reason":null${this.choiceTail}`;
  }

  json(): string {
    const gen = this.gen;
    const call = gen.toolCall;
    const content =
      call === undefined
        ? `"content":${gen.answer.textJson}`
        : `"content":null,"tool_calls":[{"id":"${call.id}","type":"function","function":{"name":${JSON.stringify(call.name)},"arguments":${gen.answer.textJson}}}]`;
    const reasoning = gen.reasoning === undefined ? '' : `,"reasoning_content":${gen.reasoning.textJson}`;
    return (
      `{"id":"${gen.id}","object":"chat.completion","created":${gen.created},"model":${JSON.stringify(gen.model)},` +
      `"choices":[{"index":0,"message":{"role":"assistant",${content}${reasoning},"refusal":null,"annotations":[]},` +
      `"logprobs":${this.logprobsOf(gen.answer.tokenJson)},"finish_reason":"${this.finishReason()}"}],` +
      `${gen.omitUsage === true ? '' : `"usage":${usageJson(gen)},`}${FINGERPRINT}}`
    );
  }

  /** Role chunk, then reasoning (one chunk per token), then a tool call's head (id, name, no arguments yet). */
  streamStart(): string {
    const gen = this.gen;
    let out = this.delta('{"role":"assistant","content":"","refusal":null}');
    for (const token of gen.reasoning?.tokenJson ?? []) {
      out += this.delta(`{"reasoning_content":${token}}`);
    }
    const call = gen.toolCall;
    if (call !== undefined) {
      out += this.delta(
        `{"tool_calls":[{"index":0,"id":"${call.id}","type":"function","function":{"name":${JSON.stringify(call.name)},"arguments":""}}]}`,
      );
    }
    return out;
  }

  streamToken(index: number): string {
    const token = this.gen.answer.tokenJson[index];
    if (this.gen.toolCall !== undefined) {
      return this.delta(`{"tool_calls":[{"index":0,"function":{"arguments":${token}}}]}`);
    }
    if (this.gen.logprobs === true) {
      return `${this.head}[{"index":0,"delta":{"content":${token}},"logprobs":${this.logprobsOf([token])},"finish_reason":null${this.choiceTail}`;
    }
    return this.delta(`{"content":${token}}`);
  }

  /** OpenAI's `choices[].logprobs` for these (JSON-encoded) tokens: a fixed, plausible log probability each. */
  private logprobsOf(tokens: readonly string[]): string {
    if (this.gen.logprobs !== true || this.gen.toolCall !== undefined) {
      return 'null';
    }
    const entries = tokens.map((t) => `{"token":${t},"logprob":-0.25,"bytes":null,"top_logprobs":[]}`);
    return `{"content":[${entries.join(',')}],"refusal":null}`;
  }

  streamEnd(): string {
    let out = `${this.head}[{"index":0,"delta":{},"logprobs":null,"finish_reason":"${this.finishReason()}"${this.choiceTail}`;
    if (this.gen.includeUsage && this.gen.omitUsage !== true) {
      out += `${this.head}[],"usage":${usageJson(this.gen)}}\n\n`;
    }
    return `${out}data: [DONE]\n\n`;
  }

  streamError(status: number): string {
    return `data: ${errorJson(status)}\n\n`;
  }

  streamBroken(): string {
    return `${this.head}[{"index":0,"delta":{"content":"brok\n\n`;
  }
}

function parse(raw: unknown): ParsedRequest | WireProblem {
  const body = asRecord(raw);
  if (body === null) {
    return { problem: 'The request body must be a JSON object.', param: null };
  }
  if (typeof body.model !== 'string' || body.model === '') {
    return { problem: 'you must provide a model parameter', param: 'model' };
  }
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    return { problem: 'messages must be a non-empty array', param: 'messages' };
  }
  const sampling = samplingProblem(body);
  if (sampling !== null) {
    return sampling;
  }
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') {
    return { problem: 'stream must be a boolean', param: 'stream' };
  }
  const maxTokens = tokenLimit(body, 'max_tokens');
  const maxCompletion = tokenLimit(body, 'max_completion_tokens');
  if (typeof maxTokens === 'object' && maxTokens !== null) {
    return maxTokens;
  }
  if (typeof maxCompletion === 'object' && maxCompletion !== null) {
    return maxCompletion;
  }
  let promptChars = 0;
  let lastUserText = '';
  let lastToolResult: string | null = null;
  for (const m of body.messages as unknown[]) {
    const message = asRecord(m);
    if (message === null) {
      return { problem: 'each message must be an object', param: 'messages' };
    }
    const text = contentText(message.content);
    promptChars += text.length;
    if (message.role === 'user') {
      lastUserText = text;
    }
    lastToolResult = message.role === 'tool' ? text : null;
  }
  const limits = [maxTokens, maxCompletion].filter((v): v is number => v !== null);
  const choice = body.tool_choice;
  const forced = asRecord(asRecord(choice)?.function)?.name;
  const format = asRecord(body.response_format);
  const jsonSchema = asRecord(format?.json_schema);
  return {
    model: body.model,
    stream: body.stream === true,
    maxTokens: limits.length > 0 ? Math.min(...limits) : null,
    includeUsage: asRecord(body.stream_options)?.include_usage === true,
    promptChars,
    lastUserText,
    tools: choice === 'none' ? [] : toolsOf(body.tools),
    forcedTool: typeof forced === 'string' ? forced : null,
    lastToolResult,
    json:
      format?.type === 'json_object'
        ? { schema: null }
        : format?.type === 'json_schema'
          ? { schema: jsonSchema?.schema ?? null }
          : null,
    reasoning: typeof body.reasoning_effort === 'string' && body.reasoning_effort !== 'none',
    ...(body.logprobs === true ? { logprobs: true } : {}),
  };
}

function toolsOf(raw: unknown): SimTool[] {
  if (!Array.isArray(raw)) {
    return [];
  }
  const tools: SimTool[] = [];
  for (const t of raw) {
    const fn = asRecord(asRecord(t)?.function);
    if (fn !== null && typeof fn.name === 'string') {
      tools.push({ name: fn.name, parameters: fn.parameters });
    }
  }
  return tools;
}

export const openAiWire: WireFormat = {
  name: 'openai',
  idPrefix: 'chatcmpl-sim',
  parse,
  render: (gen) => new OpenAiRendering(gen),
  errorBody: (status, message, param) => errorJson(status, message, param ?? null),
};
