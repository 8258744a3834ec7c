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
 * HuggingFace text-generation-inference's native API (its router's OpenAPI and server.rs), as the tgi adapter speaks
 * it: `POST /generate` `{inputs, parameters}` → `{generated_text, details?}` (`details` when asked for, with `prefill`
 * filled when `decoder_input_details`); `POST /generate_stream` → SSE (`data:` without a space), one event per token
 * and a last one whose token is the end-of-sequence one (`special: true`), with `generated_text` and `details
 * {finish_reason, generated_tokens, seed, input_length}`. Errors are `{"error", "error_type"}`: 422 validation,
 * 424 generation, 429 overloaded, 500 incomplete_generation; a stream reports them as an event (its validation
 * errors too, with status 200). `GET /info` names the one model served. The model is whatever the server was
 * started with: requests do not name one.
 */

const ERROR_TYPES: Record<number, string> = {
  422: 'validation',
  424: 'generation',
  429: 'overloaded',
  500: 'incomplete_generation',
};

const EOS = '{"id":2,"text":"</s>","logprob":-0.0001,"special":true}';

function errorJson(status: number, message?: string): string {
  return JSON.stringify({ error: message ?? simulatedMessage(status), error_type: ERROR_TYPES[status] ?? 'unknown' });
}

function validation(message: string, param: string): WireProblem {
  return { problem: `Input validation error: ${message}`, param, status: 422 };
}

/** Token `i` of the answer as TGI describes it (ids are synthetic: 100 + position). */
function tokenJson(json: string, i: number): string {
  return `{"id":${100 + i},"text":${json},"logprob":-0.25,"special":false}`;
}

class TgiRendering implements Rendering {
  /** The stream's last event carries the last token: the end-of-sequence one, or the last text token when cut. */
  readonly chunks: number;

  constructor(
    private readonly gen: Generation,
    private readonly details: { details: boolean; prefill: boolean },
  ) {
    this.chunks = gen.truncated ? Math.max(0, gen.answer.length - 1) : gen.answer.length;
  }

  private finishReason(): string {
    if (this.gen.truncated) {
      return 'length';
    }
    return this.gen.stopSequence === undefined ? 'eos_token' : 'stop_sequence';
  }

  /**
   * The last token: the end-of-sequence one, or, as TGI does, the stop sequence that ended the answer (its
   * generated_text keeps it, unlike OpenAI's and Anthropic's answers).
   */
  private finalToken(): string {
    const stop = this.gen.stopSequence;
    return stop === undefined ? EOS : tokenJson(JSON.stringify(stop), this.gen.answer.length);
  }

  private generatedTextJson(): string {
    const stop = this.gen.stopSequence;
    return stop === undefined || this.gen.truncated
      ? this.gen.answer.textJson
      : JSON.stringify(this.gen.answer.text + stop);
  }

  /** TGI counts the end-of-sequence token as generated. */
  private generatedTokens(): number {
    return this.gen.answer.length + (this.gen.truncated ? 0 : 1);
  }

  private prefill(): string {
    if (!this.details.prefill) {
      return '[]';
    }
    const tokens: string[] = [];
    for (let i = 0; i < this.gen.promptTokens; i++) {
      tokens.push(i === 0 ? '{"id":1,"text":"<s>","logprob":null}' : `{"id":${1000 + i},"text":"p","logprob":-1.5}`);
    }
    return `[${tokens.join(',')}]`;
  }

  json(): string {
    const g = this.gen;
    if (!this.details.details) {
      return `{"generated_text":${this.generatedTextJson()}}`;
    }
    const tokens = g.answer.tokenJson.map(tokenJson);
    if (!g.truncated) {
      tokens.push(this.finalToken());
    }
    return (
      `{"generated_text":${this.generatedTextJson()},"details":{"finish_reason":"${this.finishReason()}",` +
      `"generated_tokens":${this.generatedTokens()},"seed":null,"prefill":${this.prefill()},` +
      `"tokens":[${tokens.join(',')}],"top_tokens":[],"best_of_sequences":null}}`
    );
  }

  streamStart(): string {
    return '';
  }

  streamToken(index: number): string {
    const token = tokenJson(this.gen.answer.tokenJson[index], index);
    return `data:{"index":${index + 1},"token":${token},"top_tokens":[],"generated_text":null,"details":null}\n\n`;
  }

  streamEnd(): string {
    const g = this.gen;
    const last = g.answer.length - 1;
    const token = g.truncated && last >= 0 ? tokenJson(g.answer.tokenJson[last], last) : this.finalToken();
    const details = this.details.details
      ? `{"finish_reason":"${this.finishReason()}","generated_tokens":${this.generatedTokens()},"seed":null,` +
        `"input_length":${g.promptTokens}}`
      : 'null';
    return (
      `data:{"index":${this.chunks + 1},"token":${token},"top_tokens":[],` +
      `"generated_text":${this.generatedTextJson()},"details":${details}}\n\n`
    );
  }

  /** A failure after the first token is a generation error (or the queue being full: overloaded). */
  streamError(status: number): string {
    return status === 429
      ? `data:${errorJson(429, 'Model is overloaded (provider simulator)')}\n\n`
      : `data:${errorJson(424, 'Request failed during generation: simulated failure (provider simulator)')}\n\n`;
  }

  streamBroken(): string {
    return 'data:{"index":1,"token":{"id":100,"text":"brok\n\n';
  }
}

/** The last `User:` turn of a transcript (the gateway writes conversations out that way), else the whole input. */
export function lastUserTurn(inputs: string): string {
  let found: string | null = null;
  for (const m of inputs.matchAll(/(?:^|\n\n)User: ([\s\S]*?)(?=\n\n(?:System|User|Assistant|Tool):|$)/g)) {
    found = m[1];
  }
  return found ?? inputs;
}

function positive(params: Record<string, unknown>, key: string, message: string): WireProblem | null {
  const v = params[key];
  return v === undefined || v === null || (typeof v === 'number' && v > 0) ? null : validation(message, key);
}

function checkParameters(params: Record<string, unknown>): WireProblem | null {
  const topP = params.top_p;
  if (topP !== undefined && topP !== null && !(typeof topP === 'number' && topP > 0 && topP < 1)) {
    return validation('`top_p` must be > 0.0 and < 1.0', 'top_p');
  }
  const budget = params.max_new_tokens;
  if (budget !== undefined && budget !== null && !(typeof budget === 'number' && Number.isInteger(budget))) {
    return validation('`max_new_tokens` must be an integer', 'max_new_tokens');
  }
  return (
    positive(params, 'temperature', '`temperature` must be strictly positive') ??
    positive(params, 'max_new_tokens', '`max_new_tokens` must be strictly positive') ??
    positive(params, 'repetition_penalty', '`repetition_penalty` must be strictly positive')
  );
}

function parse(raw: unknown, hints: RouteHints = {}): ParsedRequest | WireProblem {
  const body = asRecord(raw);
  if (body === null || typeof body.inputs !== 'string') {
    return {
      problem: 'Failed to deserialize the JSON body into the target type: missing field `inputs`',
      param: null,
      status: 422,
    };
  }
  if (body.inputs.trim() === '') {
    return validation('`inputs` cannot be empty', 'inputs');
  }
  const params = asRecord(body.parameters) ?? {};
  const bad = checkParameters(params);
  if (bad !== null) {
    return bad;
  }
  const stream = hints.stream === true;
  if (stream && params.decoder_input_details === true) {
    // TGI answers this inside the stream it opened, with status 200.
    const message = 'Input validation error: `decoder_input_details` == true is not supported when streaming tokens';
    return {
      problem: message,
      param: 'decoder_input_details',
      streamBody: `data:${JSON.stringify({ error: message, error_type: 'validation' })}\n\n`,
    };
  }
  const grammar = asRecord(params.grammar);
  return {
    model: '',
    stream,
    maxTokens: typeof params.max_new_tokens === 'number' ? params.max_new_tokens : null,
    includeUsage: params.details === true,
    promptChars: body.inputs.length,
    lastUserText: lastUserTurn(body.inputs),
    lastToolResult: null,
    tools: [],
    forcedTool: null,
    json: grammar?.type === 'json' ? { schema: grammar.value ?? null } : null,
    reasoning: false,
    promptTokenList: params.details === true && params.decoder_input_details === true,
    ...(Array.isArray(params.stop) ? { stop: params.stop.filter((x): x is string => typeof x === 'string') } : {}),
  };
}

/** `GET /info`: the one model this server runs (the first configured one). */
export function tgiInfo(ids: readonly string[]): string {
  return JSON.stringify({
    model_id: ids[0] ?? 'sim-tgi',
    model_sha: null,
    model_pipeline_tag: 'text-generation',
    max_concurrent_requests: 128,
    max_best_of: 2,
    max_stop_sequences: 4,
    max_input_tokens: 4095,
    max_total_tokens: 4096,
    validation_workers: 2,
    max_client_batch_size: 4,
    router: 'text-generation-router',
    version: '3.3.0-simulator',
    sha: null,
    docker_label: null,
  });
}

export const tgiWire: WireFormat = {
  name: 'tgi',
  idPrefix: 'sim-tgi-',
  parse,
  // `includeUsage` carries `parameters.details`; `promptTokenList` its `decoder_input_details`.
  render: (gen) => new TgiRendering(gen, { details: gen.includeUsage, prefill: gen.promptTokenList === true }),
  errorBody: (status, message) => errorJson(status, message),
};
