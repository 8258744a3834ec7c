import type { IncomingHttpHeaders } from 'node:http';

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

/** The API key a request presents: `Authorization: Bearer <key>`, else `x-api-key`. Null when neither holds one. */
export function presentedKey(headers: IncomingHttpHeaders): string | null {
  const authorization = headers.authorization;
  if (authorization !== undefined) {
    const m = BEARER.exec(authorization);
    if (m) {
      return m[1];
    }
  }
  const apiKey = headers['x-api-key'];
  if (typeof apiKey === 'string') {
    const trimmed = apiKey.trim();
    return trimmed === '' ? null : trimmed;
  }
  return null;
}
