import { ErrorCode, GatewayError, sha256Hex } from '@aigw/core';

export const IDEMPOTENCY_HEADER = 'idempotency-key';
export const MAX_KEY_LENGTH = 255;

/** The Idempotency-Key header, if sent; 400 naming it when it is empty, repeated or too long. */
export function idempotencyKeyOf(header: string | string[] | undefined): string | undefined {
  if (header === undefined) {
    return undefined;
  }
  if (typeof header !== 'string' || header.length === 0 || header.length > MAX_KEY_LENGTH) {
    throw new GatewayError(ErrorCode.InvalidRequest, `Idempotency-Key must be 1..${MAX_KEY_LENGTH} characters.`, {
      param: 'Idempotency-Key',
    });
  }
  return header;
}

/**
 * Scoped by API key (so by user too): two keys choosing the same Idempotency-Key never share a job, not even two
 * keys of one user, whose allowedModels may differ. A replay hands over its job's answer, and one key must never get
 * an answer from a deployment it may not use (the response cache checks that with `mayServeAnswer`; a replay may be
 * of a job still queued or running, or of an async job only named by its id, with no answer yet to check).
 */
export function idempotentJobId(apiKeyId: string, key: string): string {
  return `idem_${sha256Hex(`${apiKeyId}:${key}`)}`;
}

/**
 * JSON with object keys sorted at every level, so bodies that differ only in key order (or in
 * whitespace) hash alike. Array order is kept: it is meaningful (messages).
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) {
    return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(',')}]`;
  }
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    const parts: string[] = [];
    for (const k of Object.keys(obj).sort()) {
      if (obj[k] !== undefined) {
        parts.push(`${JSON.stringify(k)}:${canonicalJson(obj[k])}`);
      }
    }
    return `{${parts.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * What a replay must match: the endpoint and the canonical body. Including the endpoint means a key
 * used on /generate cannot be replayed on /jobs with the same body.
 */
export function requestFingerprint(endpoint: string, body: unknown): string {
  return sha256Hex(`${endpoint}\n${canonicalJson(body)}`);
}
