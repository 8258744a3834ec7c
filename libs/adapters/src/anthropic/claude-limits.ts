import {
  ErrorClass,
  merged,
  ProviderCallError,
  type ChatMessage,
  type GenerationOptions,
  type ThinkingBlock,
} from '@aigw/core';

/**
 * What Claude refuses, refused before sending, wherever Claude is reached: the Anthropic adapter (Claude's own API)
 * and the OpenAI wire to a gateway in front of Claude (LiteLLM, `AdapterTarget.claudeOptions`), which passes the
 * request on to Claude as it came. One check for both, so a client gets the same answer whichever route served it.
 */

/**
 * Routing keeps requests with parts Anthropic cannot take away from it; this is the backstop. `param` is the field
 * refused (OpenAI's name), which the client's 400 names when no other deployment takes the request. `untranslatable`:
 * never sent, so routing moves on to another deployment and the circuit is not charged.
 */
export function unsupported(what: string, param?: string): ProviderCallError {
  return new ProviderCallError(ErrorClass.InvalidRequest, `the Anthropic Messages API does not accept ${what}`, {
    untranslatable: true,
    param,
  });
}

/** A thinking block Claude signed (a redacted one holds its data): the only kind Claude takes back. */
export function isSigned(b: ThinkingBlock): boolean {
  return b.type === 'redacted_thinking' ? b.data !== '' : b.signature !== '';
}

/** The lowest `top_p` the Messages API takes with thinking on. */
const THINKING_MIN_TOP_P = 0.95;

/**
 * What Claude refuses with extended thinking on (its documented limits), refused here first so routing can move on
 * to a family that serves it: sampling changes, a forced tool, and a tool result following an assistant turn sent
 * back without its signed thinking (Claude needs it before the tool_use blocks whose results follow).
 */
function assertThinkable(o: GenerationOptions, unthinkingToolLoop: boolean): void {
  if (o.temperature !== undefined && o.temperature !== 1) {
    throw unsupported("'temperature' other than 1 with thinking on ('reasoning_effort')", 'temperature');
  }
  if (o.topK !== undefined) {
    throw unsupported("'top_k' with thinking on ('reasoning_effort')", 'top_k');
  }
  if (o.topP !== undefined && o.topP < THINKING_MIN_TOP_P) {
    throw unsupported(`'top_p' below ${THINKING_MIN_TOP_P} with thinking on ('reasoning_effort')`, 'top_p');
  }
  if (o.toolChoice === 'required' || typeof o.toolChoice === 'object') {
    throw unsupported("a forced 'tool_choice' with thinking on ('reasoning_effort')", 'tool_choice');
  }
  if (unthinkingToolLoop) {
    throw unsupported(
      'tool results after an assistant turn without its thinking blocks with thinking on (send them back as the answer gave them)',
      'messages',
    );
  }
}

/**
 * Tool results in Claude's last user turn, in an assistant turn whose messages carry no signed thinking. Claude's user
 * turn is every message between two assistant ones (`toAnthropicPrompt` merges them; system messages go to the
 * top-level `system`), so a user message after the results (the image a screenshot tool returned: a tool message
 * takes text only) still ends a tool loop. A tool loop is one assistant turn: its assistant messages since the last
 * user turn without tool results. Claude thinks once, at the turn's start (unless thinking is interleaved), so only
 * the first of them holds thinking, and the turn is taken back so; a turn with none anywhere is what Claude refuses.
 * An assistant turn that says nothing is left out of the prompt (`toAnthropicPrompt`), and looked past here too. A
 * look back over the current turn's messages.
 */
function toolLoopWithoutThinking(messages: readonly ChatMessage[]): boolean {
  let i = messages.length - 1;
  let results = false;
  for (; i >= 0; i--) {
    const m = messages[i];
    if (m.role === 'tool') {
      results = true;
    } else if (m.role === 'assistant' && !saysNothing(m)) {
      break;
    }
  }
  if (!results) {
    return false;
  }
  // Back through the loop: what lies between two assistant messages is a user turn (none: Claude gets them as one).
  let user = false;
  let tools = false;
  for (; i >= 0; i--) {
    const m = messages[i];
    if (m.role === 'tool') {
      tools = true;
    } else if (m.role === 'user') {
      user = true;
    } else if (m.role === 'assistant' && !saysNothing(m)) {
      if (user && !tools) {
        // A user turn without tool results: the loop began after it.
        return true;
      }
      if ((m.thinking_blocks ?? []).some(isSigned)) {
        return false;
      }
      user = false;
      tools = false;
    }
  }
  return true;
}

/** An assistant message `toAnthropicPrompt` leaves out: no text, no tool calls, no signed thinking. */
function saysNothing(m: ChatMessage): boolean {
  const content = m.content;
  const empty =
    content === null ||
    (typeof content === 'string'
      ? content.length === 0
      : content.every((p) => p.type === 'text' && p.text.length === 0));
  return empty && (m.tool_calls?.length ?? 0) === 0 && !(m.thinking_blocks ?? []).some(isSigned);
}

/**
 * The options Claude is asked with, extended thinking's limits applied; throws what Claude would refuse (see
 * `assertThinkable`). Thinking is on for any effort but `none`: Claude's own API gets a budget or adaptive thinking
 * for it (`thinkingParamOf`), and LiteLLM turns a `reasoning_effort` into Claude's `thinking` the same way (`none`
 * into none), as it passes `/v1/messages`' own `thinking` on.
 *
 * A `reasoning_effort` alone (the OpenAI endpoint) on a tool loop whose assistant turn came back without its
 * `thinking_blocks` goes without thinking: OpenAI clients, the SDK's own `runTools` among them, rebuild the assistant
 * turn from `content` and `tool_calls` only, and Claude refuses the loop with thinking on, so the loop could never
 * finish. A named budget or adaptive thinking (`/v1/messages`' `thinking`, whose clients keep the blocks) is refused
 * as Claude refuses it; adaptive thinking may skip thinking in a turn (the model decides), so Claude takes a loop
 * whose assistant turn holds none: only a budget of thinking needs the blocks back.
 *
 * Costs nothing without thinking; with it, a few field checks and a look back from a final tool result to its
 * assistant turn.
 */
export function thinkingChecked(messages: readonly ChatMessage[], options: GenerationOptions): GenerationOptions {
  if (options.reasoningEffort === undefined || options.reasoningEffort === 'none') {
    return options;
  }
  const unthinkingToolLoop = toolLoopWithoutThinking(messages);
  const named = options.reasoningBudget !== undefined || options.adaptiveThinking === true;
  if (unthinkingToolLoop && !named) {
    return merged(options, { reasoningEffort: undefined });
  }
  assertThinkable(options, unthinkingToolLoop && options.adaptiveThinking !== true);
  return options;
}
