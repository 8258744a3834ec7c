import { createHmac } from 'node:crypto';
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

/**
 * Extended thinking as Anthropic serves it: a thinking block signed over its text, which a later turn must send back
 * unchanged (a changed text or signature is refused), or, when the user's text holds Anthropic's documented test
 * string, a `redacted_thinking` block whose data the simulator can check the same way.
 */
export const REDACTED_THINKING_TRIGGER =
  'ANTHROPIC_MAGIC_STRING_TRIGGER_REDACTED_THINKING_46C9A13E193C177646C7398A98432ECCCE4C1253D5E2D82641AC0E52CC2876CB';
const SIGNING_KEY = 'provider-simulator-thinking';

export function thinkingSignature(text: string): string {
  return `sim-sig-${createHmac('sha256', SIGNING_KEY).update(text).digest('base64')}`;
}

function redactedData(text: string): string {
  const sealed = Buffer.from(text).toString('base64');
  return `sim-redacted-${sealed}.${thinkingSignature(sealed)}`;
}

function validRedacted(data: unknown): boolean {
  if (typeof data !== 'string' || !data.startsWith('sim-redacted-')) {
    return false;
  }
  const dot = data.indexOf('.');
  return dot > 0 && data.slice(dot + 1) === thinkingSignature(data.slice('sim-redacted-'.length, dot));
}

class AnthropicRendering implements Rendering {
  /** The answer's block index: 1 after a thinking block. */
  private readonly at: number;

  constructor(private readonly gen: Generation) {
    this.at = gen.reasoning === undefined ? 0 : 1;
  }

  private redacted(): boolean {
    return this.gen.reasoning?.text.includes(REDACTED_THINKING_TRIGGER) === true;
  }

  /** The thinking block, whole (JSON answers). */
  private thinkingBlock(): string {
    const r = this.gen.reasoning;
    if (r === undefined) {
      return '';
    }
    return this.redacted()
      ? `{"type":"redacted_thinking","data":${JSON.stringify(redactedData(r.text))}},`
      : `{"type":"thinking","thinking":${r.textJson},"signature":${JSON.stringify(thinkingSignature(r.text))}},`;
  }

  /** The thinking block as Anthropic streams it: opened empty, its text in deltas, its signature last, closed. */
  private thinkingEvents(): string {
    const r = this.gen.reasoning;
    if (r === undefined) {
      return '';
    }
    if (this.redacted()) {
      return (
        event(
          'content_block_start',
          `{"type":"content_block_start","index":0,"content_block":{"type":"redacted_thinking","data":${JSON.stringify(redactedData(r.text))}}}`,
        ) + event('content_block_stop', '{"type":"content_block_stop","index":0}')
      );
    }
    let out = event(
      'content_block_start',
      '{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}',
    );
    for (const token of r.tokenJson) {
      out += event(
        'content_block_delta',
        `{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":${token}}}`,
      );
    }
    const signature = JSON.stringify(thinkingSignature(r.text));
    return (
      out +
      event(
        'content_block_delta',
        `{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":${signature}}}`,
      ) +
      event('content_block_stop', '{"type":"content_block_stop","index":0}')
    );
  }

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
      `"content":[${this.thinkingBlock()}${this.contentBlock()}],"stop_reason":"${this.stopReason()}",` +
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
      this.thinkingEvents() +
      event(
        'content_block_start',
        g.toolCall === undefined
          ? `{"type":"content_block_start","index":${this.at},"content_block":{"type":"text","text":""}}`
          : `{"type":"content_block_start","index":${this.at},"content_block":{"type":"tool_use","id":"${g.toolCall.id}","name":${JSON.stringify(g.toolCall.name)},"input":{}}}`,
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
    return event('content_block_delta', `{"type":"content_block_delta","index":${this.at},"delta":${delta}}`);
  }

  streamEnd(): string {
    return (
      event('content_block_stop', `{"type":"content_block_stop","index":${this.at}}`) +
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
    return event('content_block_delta', `{"type":"content_block_delta","index":${this.at},"delta":{"type":"text_del`);
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
  const sampling = samplingProblem(body);
  if (sampling !== null) {
    return sampling;
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
  const thinking = thinkingOf(body, maxTokens);
  if (thinking !== null && typeof thinking === 'object') {
    return thinking;
  }
  let promptChars = contentText(body.system).length;
  let lastUserText = '';
  let lastToolResult: string | null = null;
  // The first assistant message since the last user turn without tool results: a tool loop is one assistant turn, and
  // Claude thinks once, at its start (without interleaved thinking), so that message is the one to start with thinking.
  let turnStart: Record<string, unknown> | null = null;
  for (const [i, m] of (body.messages as unknown[]).entries()) {
    const message = asRecord(m);
    if (message === null) {
      return { problem: 'messages: each message must be an object', param: 'messages' };
    }
    const signed = checkThinkingBlocks(message, i);
    if (signed !== null) {
      return signed;
    }
    if (message.role === 'assistant') {
      turnStart ??= message;
    }
    const text = contentText(message.content);
    promptChars += text.length;
    const result = message.role === 'user' ? toolResultText(message.content) : null;
    if (message.role === 'user' && result === null) {
      lastUserText = text;
      turnStart = null;
    }
    lastToolResult = result;
  }
  const declared = Array.isArray(body.tools) && body.tools.length > 0;
  if (!declared && (body.messages as unknown[]).some(holdsToolBlocks)) {
    // As the Messages API refuses it: a history with tool calls needs the tools declared (LiteLLM adds a dummy one).
    return {
      problem: 'Requests which include `tool_use` or `tool_result` blocks must define tools.',
      param: 'tools',
    };
  }
  if (thinking === true && lastToolResult !== null && !startsWithThinking(turnStart)) {
    return {
      problem:
        'messages: When `thinking` is enabled, a final `assistant` message must start with a thinking block ' +
        '(preceeding the lastmost set of `tool_use` and `tool_result` blocks).',
      param: 'messages',
    };
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
    reasoning: thinking === true,
    ...(Array.isArray(body.stop_sequences) ? { stop: body.stop_sequences.filter((x) => typeof x === 'string') } : {}),
  };
}

/**
 * `thinking: {type: 'enabled', budget_tokens}` as the Messages API checks it: true when enabled, false when not
 * asked for, or the problem.
 */
function thinkingOf(body: Record<string, unknown>, maxTokens: number): boolean | WireProblem {
  const thinking = asRecord(body.thinking);
  if (thinking === null || thinking.type === 'disabled') {
    return false;
  }
  const budget = thinking.budget_tokens;
  if (thinking.type !== 'enabled' || typeof budget !== 'number' || !Number.isInteger(budget)) {
    return { problem: 'thinking: Input tag does not match the expected tags or budget_tokens is missing', param: null };
  }
  if (budget < 1024) {
    return { problem: 'thinking.enabled.budget_tokens: Input should be greater than or equal to 1024', param: null };
  }
  if (maxTokens <= budget) {
    return { problem: '`max_tokens` must be greater than `thinking.budget_tokens`.', param: null };
  }
  if (body.temperature !== undefined && body.temperature !== 1) {
    return { problem: '`temperature` may only be set to 1 when thinking is enabled.', param: null };
  }
  return true;
}

/** Thinking blocks sent back must be the provider's own, unchanged. */
function checkThinkingBlocks(message: Record<string, unknown>, i: number): WireProblem | null {
  if (!Array.isArray(message.content)) {
    return null;
  }
  for (const [j, raw] of (message.content as unknown[]).entries()) {
    const b = asRecord(raw);
    const at = `messages.${i}.content.${j}`;
    if (b?.type === 'thinking') {
      if (message.role !== 'assistant') {
        return { problem: `${at}: thinking blocks are only allowed in assistant messages`, param: null };
      }
      if (typeof b.thinking !== 'string' || b.signature !== thinkingSignature(b.thinking)) {
        return { problem: `${at}: Invalid \`signature\` in \`thinking\` block`, param: null };
      }
    } else if (b?.type === 'redacted_thinking' && !validRedacted(b.data)) {
      return { problem: `${at}: Invalid \`data\` in \`redacted_thinking\` block`, param: null };
    }
  }
  return null;
}

function startsWithThinking(message: Record<string, unknown> | null): boolean {
  const first = Array.isArray(message?.content) ? asRecord(message.content[0]) : null;
  return first?.type === 'thinking' || first?.type === 'redacted_thinking';
}

function holdsToolBlocks(message: unknown): boolean {
  const content = asRecord(message)?.content;
  return (
    Array.isArray(content) &&
    content.some((b) => {
      const type = asRecord(b)?.type;
      return type === 'tool_use' || type === 'tool_result';
    })
  );
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
  toolIdPrefix: 'toolu_sim',
  parse,
  render: (gen) => new AnthropicRendering(gen),
  errorBody: (status, message) => errorJson(status, message),
};
