import { sha256Hex } from '@aigw/core';
import { randomBytes } from 'node:crypto';

/**
 * An id for a tool call whose provider gave none (Gemini, Ollama): `call_` and 24 random hex digits, as OpenAI's
 * look. Unique across answers, not only within one: a conversation holds the calls of many answers, and a family
 * it is later sent to (Anthropic's `tool_use` ids) refuses a history where two calls share an id.
 */
export function newToolCallId(): string {
  return `call_${randomBytes(12).toString('hex')}`;
}

/**
 * Another family's tool call id rewritten for a provider that refuses it as it is: `kept` (what of the id that
 * provider takes, cut to leave room for the suffix within `maxLength`), `_` and a hash of the whole id, so two ids
 * never become one. The call and the tool result that answers it go through the same rewrite, so they still match.
 */
export function rewrittenToolCallId(kept: string, whole: string, maxLength = Number.POSITIVE_INFINITY): string {
  const suffix = `_${sha256Hex(whole).slice(0, 12)}`;
  return `${kept.slice(0, Math.max(0, maxLength - suffix.length))}${suffix}`;
}
