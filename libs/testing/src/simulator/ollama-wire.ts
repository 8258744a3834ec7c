import { type SimTool } from './behaviours';
import {
  asRecord,
  type Generation,
  type ParsedRequest,
  type Rendering,
  simulatedMessage,
  type WireFormat,
  type WireProblem,
} from './wire';

/*
 * Ollama's native API (github.com/ollama/ollama docs/api.md), as the ollama adapter speaks it: `POST /api/chat` with
 * `stream` true by default; a stream is newline-delimited JSON, one `{model, created_at, message, done: false}` object
 * per piece and a last `done: true` one with `done_reason` and the counts (`prompt_eval_count`, `eval_count`) and
 * durations in nanoseconds. Tool calls come whole (`message.tool_calls[].function.{name, arguments}` with arguments
 * an object). `think` asks for `message.thinking`. `GET /api/tags` lists the local models. Errors are
 * `{"error": "<text>"}`, in a stream as one more line.
 */

const ROLES = new Set(['system', 'user', 'assistant', 'tool']);

// Fixed figures keep answers byte-for-byte stable across runs.
const CREATED_AT = '2025-01-01T00:00:00.000000Z';
const NS_PER_TOKEN = 20_000_000;

function errorJson(status: number, message?: string): string {
  return JSON.stringify({ error: message ?? simulatedMessage(status) });
}

class OllamaRendering implements Rendering {
  readonly chunks: number;
  /** `{"model":...,"created_at":...,"message":{"role":"assistant",` shared by every line of this answer. */
  private readonly head: string;

  constructor(private readonly gen: Generation) {
    // Ollama sends a tool call whole, in one line.
    this.chunks = gen.toolCall === undefined ? gen.answer.length : 1;
    this.head = `{"model":${JSON.stringify(gen.model)},"created_at":"${CREATED_AT}","message":{"role":"assistant",`;
  }

  private doneReason(): string {
    return this.gen.truncated ? 'length' : 'stop';
  }

  private toolCalls(): string {
    const call = this.gen.toolCall;
    return call === undefined
      ? ''
      : `,"tool_calls":[{"function":{"name":${JSON.stringify(call.name)},"arguments":${this.gen.answer.text}}}]`;
  }

  /** Counts and durations of a finished answer (reasoning is generated, so it counts in `eval_count`). */
  private counts(): string {
    const g = this.gen;
    const evals = g.answer.length + (g.reasoning?.length ?? 0);
    const promptNs = g.promptTokens * 1_000_000;
    const evalNs = evals * NS_PER_TOKEN;
    return (
      `"done_reason":"${this.doneReason()}","done":true,"total_duration":${promptNs + evalNs + 1_000_000},` +
      `"load_duration":1000000,"prompt_eval_count":${g.promptTokens},"prompt_eval_duration":${promptNs},` +
      `"eval_count":${evals},"eval_duration":${evalNs}}`
    );
  }

  json(): string {
    const g = this.gen;
    const content = g.toolCall === undefined ? g.answer.textJson : '""';
    const thinking = g.reasoning === undefined ? '' : `,"thinking":${g.reasoning.textJson}`;
    return `${this.head}"content":${content}${thinking}${this.toolCalls()}},${this.counts()}`;
  }

  private line(message: string): string {
    return `${this.head}${message}},"done":false}\n`;
  }

  streamStart(): string {
    let out = '';
    for (const token of this.gen.reasoning?.tokenJson ?? []) {
      out += this.line(`"content":"","thinking":${token}`);
    }
    return out;
  }

  streamToken(index: number): string {
    return this.gen.toolCall === undefined
      ? this.line(`"content":${this.gen.answer.tokenJson[index]}`)
      : this.line(`"content":""${this.toolCalls()}`);
  }

  streamEnd(): string {
    return `${this.head}"content":""},${this.counts()}\n`;
  }

  streamError(status: number): string {
    return `${errorJson(status)}\n`;
  }

  streamBroken(): string {
    return `${this.head}"content":"brok\n`;
  }
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

/** `options.num_predict`: a positive budget, or -1 (no limit) / -2 (fill the context), both uncapped here. */
function numPredict(options: Record<string, unknown>): number | null | WireProblem {
  const v = options.num_predict;
  if (v === undefined || v === null || v === -1 || v === -2) {
    return null;
  }
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    return { problem: 'invalid options: num_predict must be an integer', param: 'options.num_predict' };
  }
  return v;
}

function parse(raw: unknown): ParsedRequest | WireProblem {
  const body = asRecord(raw);
  if (body === null) {
    return { problem: 'invalid request body', param: null };
  }
  if (typeof body.model !== 'string' || body.model === '') {
    return { problem: 'model is required', param: 'model' };
  }
  if (body.messages !== undefined && !Array.isArray(body.messages)) {
    return { problem: 'json: cannot unmarshal messages into a list of messages', param: 'messages' };
  }
  const limit = numPredict(asRecord(body.options) ?? {});
  if (typeof limit === 'object' && limit !== null) {
    return limit;
  }
  let promptChars = 0;
  let lastUserText = '';
  let lastToolResult: string | null = null;
  for (const m of (body.messages as unknown[] | undefined) ?? []) {
    const message = asRecord(m);
    if (message === null || typeof message.role !== 'string' || !ROLES.has(message.role)) {
      return { problem: 'invalid role: each message needs one of system, user, assistant, tool', param: 'messages' };
    }
    const text = typeof message.content === 'string' ? message.content : '';
    promptChars += text.length;
    if (message.role === 'user') {
      lastUserText = text;
    }
    lastToolResult = message.role === 'tool' ? text : null;
  }
  const format = body.format;
  const think = body.think;
  return {
    model: body.model,
    // Ollama streams unless told not to.
    stream: body.stream !== false,
    maxTokens: limit,
    includeUsage: true,
    promptChars,
    lastUserText,
    lastToolResult,
    // Ollama has no tool_choice: the model may call any tool offered.
    tools: toolsOf(body.tools),
    forcedTool: null,
    json: format === 'json' ? { schema: null } : asRecord(format) !== null ? { schema: format } : null,
    reasoning: think === true || think === 'low' || think === 'medium' || think === 'high',
  };
}

/** `GET /api/tags`: every configured model as a pulled one (`name` and `model` carry the tag). */
export function ollamaTags(ids: readonly string[]): string {
  const models = ids.map((id) => {
    const tag = JSON.stringify(id.includes(':') ? id : `${id}:latest`);
    return (
      `{"name":${tag},"model":${tag},"modified_at":"${CREATED_AT}","size":2019393189,` +
      '"digest":"a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",' +
      '"details":{"parent_model":"","format":"gguf","family":"llama","families":["llama"],' +
      '"parameter_size":"3.2B","quantization_level":"Q4_K_M"}}'
    );
  });
  return `{"models":[${models.join(',')}]}`;
}

export const ollamaWire: WireFormat = {
  name: 'ollama',
  idPrefix: 'sim-ollama-',
  parse,
  render: (gen) => new OllamaRendering(gen),
  errorBody: (status, message) => errorJson(status, message),
};
