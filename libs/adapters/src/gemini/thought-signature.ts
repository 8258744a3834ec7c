/*
 * Gemini signs the function calls of a thinking model (`thoughtSignature` on the `functionCall` part, the first of
 * parallel calls only) and wants each signature back on its call in the history: Gemini 3 refuses a tool loop's next
 * turn without it (400), earlier models reason worse. The signature rides in the tool call's id, which every client
 * sends back unchanged (OpenAI's `tool_call_id`, Anthropic's `tool_use_id`), as LiteLLM carries it: the id, the
 * separator, the signature in base64url, so the id stays within `[A-Za-z0-9_-]` (Anthropic's rule for ids, should the
 * conversation move there).
 */

import { THOUGHT_SIGNATURE_SEPARATOR as SEPARATOR } from '@aigw/core';

/** The id a client sees for a call: Gemini's own or ours, with the call's signature when it has one. */
export function idWithSignature(id: string, signature: unknown): string {
  if (typeof signature !== 'string' || signature.length === 0) {
    return id;
  }
  return `${id}${SEPARATOR}${Buffer.from(signature, 'base64').toString('base64url')}`;
}

/** Whether a call id carries a signature (cheap: no decoding). */
export function hasSignature(id: string): boolean {
  return id.includes(SEPARATOR);
}

/** The call's id without the signature it carries: what any provider but Gemini is sent. */
export function idWithoutSignature(id: string): string {
  const at = id.indexOf(SEPARATOR);
  return at < 0 ? id : id.slice(0, at);
}

/** The signature a call id carries (standard base64, as Gemini sent it), or undefined. */
export function signatureOfId(id: string): string | undefined {
  const at = id.indexOf(SEPARATOR);
  if (at < 0) {
    return undefined;
  }
  const encoded = id.slice(at + SEPARATOR.length);
  return encoded.length === 0 ? undefined : Buffer.from(encoded, 'base64url').toString('base64');
}
