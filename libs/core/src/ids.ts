import { createHash, randomUUID } from 'node:crypto';

/** `req_` and 32 hex digits: a random UUID without its dashes (sliced out: no regular expression per request). */
export function newRequestId(): string {
  const u = randomUUID();
  return `req_${u.slice(0, 8)}${u.slice(9, 13)}${u.slice(14, 18)}${u.slice(19, 23)}${u.slice(24)}`;
}

export function sha256Hex(input: string): string {
  return createHash('sha256').update(input).digest('hex');
}
