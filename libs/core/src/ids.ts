import { createHash, randomUUID } from 'node:crypto';

/** `req_` and 32 hex digits: a random UUID without its dashes (sliced out: no regular expression per request). */
export function newRequestId(): string {
  const u = randomUUID();
  return `req_${u.slice(0, 8)}${u.slice(9, 13)}${u.slice(14, 18)}${u.slice(19, 23)}${u.slice(24)}`;
}

/**
 * The completion id the gateway gives an answer of its own: one whose provider gave none, and a stored answer served
 * again (a cache hit is another completion, and tools that key on the id must not merge the two).
 */
export function completionIdOf(requestId: string): string {
  return `chatcmpl-${requestId}`;
}

export function sha256Hex(input: string): string {
  return createHash('sha256').update(input).digest('hex');
}
