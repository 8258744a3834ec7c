import { ErrorCode, GatewayError } from '@aigw/core';
import { assertMediaParts } from './media-parts';
import { isAllowedToolsChoice } from './openai-fields';
import { invalidParam } from './validation-errors';

/*
 * Rules that span fields or messages, which per-field validators cannot see. They run after the DTO
 * validation and before anything is enqueued, each naming the field at fault.
 */

interface RuleMessage {
  role: string;
  content?: unknown;
  tool_call_id?: string | null;
  tool_calls?: { id: string }[] | null;
}

interface RuleBody {
  messages: RuleMessage[];
  stream?: boolean | null;
  stream_options?: unknown;
  tools?: { function: { name: string } }[] | null;
  tool_choice?: unknown;
  logprobs?: boolean | null;
  top_logprobs?: number | null;
  /** OpenAI's deprecated function calling: not modelled, here only to be refused (`checkLegacyFunctions`). */
  functions?: unknown;
  function_call?: unknown;
  /** OpenAI's audio output (`modalities: ["text", "audio"]`, `audio: {voice, format}`): not modelled, here only to be refused (`checkAudioOutput`). */
  modalities?: unknown;
  audio?: unknown;
}

/**
 * OpenAI's deprecated function calling (`functions`, `function_call`) is refused rather than passed through: an
 * OpenAI-compatible provider would answer with a `function_call` (and `finish_reason: function_call`) that the
 * gateway's answers, cache and other families have no place for, so the client would get the finish reason with
 * the call lost. Tools carry the same functions (`role: "function"` results are already refused by the role list).
 */
function checkLegacyFunctions(body: RuleBody): void {
  for (const field of ['functions', 'function_call'] as const) {
    if (body[field] !== undefined && body[field] !== null) {
      throw invalidParam(
        field,
        'legacy function calling is not supported: send the functions as tools ([{"type": "function", "function": {...}}]) and function_call as tool_choice',
      );
    }
  }
}

/**
 * Audio output is refused rather than passed through: an OpenAI-compatible provider would answer with the audio in
 * `message.audio` (streamed as `delta.audio`), which the gateway's answers, streams and cache have no place for, so the
 * client would get an empty answer for audio it paid for. `modalities: ["text"]` (OpenAI's default) is served.
 */
function checkAudioOutput(body: RuleBody): void {
  const wantsAudio = Array.isArray(body.modalities) && body.modalities.includes('audio');
  const param = wantsAudio ? 'modalities' : body.audio !== undefined && body.audio !== null ? 'audio' : null;
  if (param !== null) {
    throw new GatewayError(
      ErrorCode.UnsupportedParameter,
      `'${param}' is not supported: this gateway answers in text only (audio output would be lost); leave out 'audio' and ask for modalities ["text"].`,
      { param },
    );
  }
}

/**
 * Stream options on a request that does not stream are a mistake OpenAI answers with a 400 naming `stream_options`
 * (a client that then leaves `stream` out by accident gets one JSON answer and no usage chunk): so does the gateway,
 * for a client written against it to work against OpenAI. A null is the field left out, as OpenAI's schema has it.
 */
function checkStreamOptions(body: RuleBody): void {
  if (body.stream_options !== undefined && body.stream_options !== null && body.stream !== true) {
    throw invalidParam('stream_options', "is only allowed when 'stream' is true");
  }
}

/**
 * Every tool result answers a call an earlier assistant message made; only assistants make calls. Also the native
 * API's `messages`, which are chat's (`nativeRequest`).
 */
export function checkToolConversation(messages: readonly RuleMessage[]): void {
  const calls = new Set<string>();
  messages.forEach((m, i) => {
    const hasCalls = (m.tool_calls?.length ?? 0) > 0;
    if (hasCalls && m.role !== 'assistant') {
      throw invalidParam(`messages[${i}].tool_calls`, 'only assistant messages carry tool_calls');
    }
    for (const call of m.tool_calls ?? []) {
      calls.add(call.id);
    }
    const answered = m.tool_call_id;
    if (answered === undefined || answered === null) {
      return;
    }
    if (m.role !== 'tool') {
      throw invalidParam(`messages[${i}].tool_call_id`, 'only tool messages carry tool_call_id');
    }
    if (!calls.has(answered)) {
      throw invalidParam(
        `messages[${i}].tool_call_id`,
        `'${answered}' matches no tool call of an earlier assistant message`,
      );
    }
  });
}

function checkTools(body: RuleBody): void {
  const names = new Set<string>();
  (body.tools ?? []).forEach((tool, i) => {
    if (names.has(tool.function.name)) {
      throw invalidParam(`tools[${i}].function.name`, `the tool name '${tool.function.name}' is used twice`);
    }
    names.add(tool.function.name);
  });
  const choice = body.tool_choice;
  if (choice === undefined || choice === null || choice === 'none' || choice === 'auto') {
    return;
  }
  if (names.size === 0) {
    throw invalidParam('tool_choice', 'a tool choice other than none or auto needs tools');
  }
  if (isAllowedToolsChoice(choice)) {
    choice.allowed_tools.tools.forEach((t, i) => {
      if (!names.has(t.function.name)) {
        throw invalidParam(
          `tool_choice.allowed_tools.tools[${i}]`,
          `names the function '${t.function.name}', which is not among the tools`,
        );
      }
    });
    return;
  }
  const named = typeof choice === 'object' ? (choice as { function: { name: string } }).function.name : null;
  if (named !== null && !names.has(named)) {
    throw invalidParam('tool_choice', `names the function '${named}', which is not among the tools`);
  }
}

/** Throws 400 invalid_request naming the field when a rule is broken. */
export function assertChatRules(body: RuleBody): void {
  checkLegacyFunctions(body);
  checkAudioOutput(body);
  checkStreamOptions(body);
  checkToolConversation(body.messages);
  assertMediaParts(body.messages);
  checkTools(body);
  if (body.top_logprobs !== undefined && body.top_logprobs !== null && body.logprobs !== true) {
    throw invalidParam('top_logprobs', 'needs logprobs set to true');
  }
}
