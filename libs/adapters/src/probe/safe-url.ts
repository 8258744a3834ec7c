/**
 * A URL as it may appear in a diagnosis: scheme, host, port and path only. User info and the query string are
 * dropped (both can carry credentials, e.g. `?key=` for Gemini or `https://user:pass@host`).
 */
export function safeUrl(url: string): string {
  if (!URL.canParse(url)) {
    return '(not a valid URL)';
  }
  const u = new URL(url);
  const path = u.pathname === '/' ? '' : u.pathname.replace(/\/+$/, '');
  return `${u.protocol}//${u.host}${path}`;
}

/** Host (and port) of a URL, for messages about name resolution and connections. */
export function hostOf(url: string): string {
  return URL.canParse(url) ? new URL(url).host : '(not a valid URL)';
}
