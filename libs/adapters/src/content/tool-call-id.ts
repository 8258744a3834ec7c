import { randomBytes } from 'node:crypto';

/**
 * An id for a tool call whose provider gave none (Gemini, Ollama): `call_` and 24 random hex digits, as OpenAI's
 * look. Unique across answers, not only within one: a conversation holds the calls of many answers, and a family
 * it is later sent to (Anthropic's `tool_use` ids) refuses a history where two calls share an id.
 */
export function newToolCallId(): string {
  return `call_${randomBytes(12).toString('hex')}`;
}
