import { contentText } from './answers';
import { type SimTool } from './behaviours';
import {
  asRecord,
  type Generation,
  type ParsedRequest,
  type Rendering,
  simulatedMessage,
  tokenLimit,
  type WireFormat,
  type WireProblem,
} from './wire';

function errorType(status: number): string {
  switch (status) {
    case 400:
      return 'invalid_request_error';
    case 401:
      return 'authentication_error';
    case 403:
      return 'permission_error';
    case 404:
      return 'not_found_error';
    case 413:
      return 'request_too_large';
    case 429:
      return 'rate_limit_error';
    case 503:
    case 529:
      return 'overloaded_error';
    default:
      return status >= 500 ? 'api_error' : 'invalid_request_error';
  }
}

function errorJson(status: number, message?: string): string {
  return JSON.stringify({
    type: 'error',
    error: { type: errorType(status), message: message ?? simulatedMessage(status) },
  });
}

const event = (name: string, data: string): string => `event: ${name}\ndata: ${data}\n\n`;

class AnthropicRendering implements Rendering {
  constructor(private readonly gen: Generation) {}

  private stopSequenceJson(): string {
    return this.gen.stopSequence === undefined ? 'null' : JSON.stringify(this.gen.stopSequence);
  }

  private stopReason(): string {
    if (this.gen.toolCall !== undefined) {
      return 'tool_use';
    }
    if (this.gen.stopSequence !== undefined) {
      return 'stop_sequence';
    }
    return this.gen.truncated ? 'max_tokens' : 'end_turn';
  }

  private contentBlock(): string {
    const call = this.gen.toolCall;
    return call === undefined
      ? `{"type":"text","text":${this.gen.answer.textJson}}`
      : `{"type":"tool_use","id":"${call.id}","name":${JSON.stringify(call.name)},"input":${this.gen.answer.text}}`;
  }

  /**
   * Anthropic's input_tokens excludes cache reads (they are reported beside it), so the
   * prompt estimate is split between the two; their sum matches OpenAI's prompt_tokens.
   */
  private usage(outputTokens: number): string {
    const g = this.gen;
    return (
      `{"input_tokens":${g.promptTokens - g.cachedTokens},"cache_creation_input_tokens":0,` +
      `"cache_read_input_tokens":${g.cachedTokens},"output_tokens":${outputTokens}}`
    );
  }

  json(): string {
    const g = this.gen;
    return (
      `{"id":"${g.id}","type":"message","role":"assistant","model":${JSON.stringify(g.model)},` +
      `"content":[${this.contentBlock()}],"stop_reason":"${this.stopReason()}",` +
      `"stop_sequence":${this.stopSequenceJson()},"usage":${this.usage(g.answer.length)}}`
    );
  }

  streamStart(): string {
    const g = this.gen;
    return (
      event(
        'message_start',
        `{"type":"message_start","message":{"id":"${g.id}","type":"message","role":"assistant",` +
          `"model":${JSON.stringify(g.model)},"content":[],"stop_reason":null,"stop_sequence":null,"usage":${this.usage(1)}}}`,
      ) +
      event(
        'content_block_start',
        g.toolCall === undefined
          ? '{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}'
          : `{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"${g.toolCall.id}","name":${JSON.stringify(g.toolCall.name)},"input":{}}}`,
      ) +
      event('ping', '{"type":"ping"}')
    );
  }

  streamToken(index: number): string {
    const token = this.gen.answer.tokenJson[index];
    const delta =
      this.gen.toolCall === undefined
        ? `{"type":"text_delta","text":${token}}`
        : `{"type":"input_json_delta","partial_json":${token}}`;
    return event('content_block_delta', `{"type":"content_block_delta","index":0,"delta":${delta}}`);
  }

  streamEnd(): string {
    return (
      event('content_block_stop', '{"type":"content_block_stop","index":0}') +
      event(
        'message_delta',
        `{"type":"message_delta","delta":{"stop_reason":"${this.stopReason()}","stop_sequence":${this.stopSequenceJson()}},` +
          `"usage":{"output_tokens":${this.gen.answer.length}}}`,
      ) +
      event('message_stop', '{"type":"message_stop"}')
    );
  }

  streamError(status: number): string {
    return event('error', errorJson(status));
  }

  streamBroken(): string {
    return event('content_block_delta', '{"type":"content_block_delta","index":0,"delta":{"type":"text_del');
  }
}

function parse(raw: unknown): ParsedRequest | WireProblem {
  const body = asRecord(raw);
  if (body === null) {
    return { problem: 'The request body must be a JSON object.', param: null };
  }
  if (typeof body.model !== 'string' || body.model === '') {
    return { problem: 'model: Field required', param: 'model' };
  }
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    return { problem: 'messages: at least one message is required', param: 'messages' };
  }
  // The real Messages API rejects a request without max_tokens; so does the simulator, so an
  // adapter that forgets it fails in tests instead of in production.
  const maxTokens = tokenLimit(body, 'max_tokens');
  if (maxTokens === null) {
    return { problem: 'max_tokens: Field required', param: 'max_tokens' };
  }
  if (typeof maxTokens === 'object') {
    return maxTokens;
  }
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') {
    return { problem: 'stream: Input should be a valid boolean', param: 'stream' };
  }
  let promptChars = contentText(body.system).length;
  let lastUserText = '';
  let lastToolResult: string | null = null;
  for (const m of body.messages as unknown[]) {
    const message = asRecord(m);
    if (message === null) {
      return { problem: 'messages: each message must be an object', param: 'messages' };
    }
    const text = contentText(message.content);
    promptChars += text.length;
    const result = message.role === 'user' ? toolResultText(message.content) : null;
    if (message.role === 'user' && result === null) {
      lastUserText = text;
    }
    lastToolResult = result;
  }
  const choice = asRecord(body.tool_choice);
  return {
    model: body.model,
    stream: body.stream === true,
    maxTokens,
    includeUsage: true,
    promptChars,
    lastUserText,
    tools: choice?.type === 'none' ? [] : toolsOf(body.tools),
    forcedTool: choice?.type === 'tool' && typeof choice.name === 'string' ? choice.name : null,
    lastToolResult,
    json: null,
    reasoning: false,
    ...(Array.isArray(body.stop_sequences) ? { stop: body.stop_sequences.filter((x) => typeof x === 'string') } : {}),
  };
}

/** The text of the tool_result blocks of a user turn (null when it has none). */
function toolResultText(content: unknown): string | null {
  if (!Array.isArray(content)) {
    return null;
  }
  let found = false;
  let text = '';
  for (const block of content) {
    const b = asRecord(block);
    if (b?.type === 'tool_result') {
      found = true;
      text += contentText(b.content);
    }
  }
  return found ? text : null;
}

function toolsOf(raw: unknown): SimTool[] {
  if (!Array.isArray(raw)) {
    return [];
  }
  const tools: SimTool[] = [];
  for (const t of raw) {
    const tool = asRecord(t);
    if (tool !== null && typeof tool.name === 'string') {
      tools.push({ name: tool.name, parameters: tool.input_schema });
    }
  }
  return tools;
}

export const anthropicWire: WireFormat = {
  name: 'anthropic',
  idPrefix: 'msg_sim',
  parse,
  render: (gen) => new AnthropicRendering(gen),
  errorBody: (status, message) => errorJson(status, message),
};
