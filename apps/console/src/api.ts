/** The console's only way to the gateway: same origin, bearer key from session storage, errors from the envelope. */

const KEY_STORAGE = 'aigw.console.key';

export type Role = 'user' | 'admin';

export function storedKey(): string | null {
  return sessionStorage.getItem(KEY_STORAGE);
}

export function storeKey(key: string | null): void {
  if (key === null) {
    sessionStorage.removeItem(KEY_STORAGE);
  } else {
    sessionStorage.setItem(KEY_STORAGE, key);
  }
}

/** The visible prefix the gateway keeps of the session's key (keyPrefixOf in libs/entities), to find its row. */
export function sessionKeyPrefix(): string | null {
  const key = storedKey();
  return key === null ? null : key.slice(0, Math.min(16, Math.floor(key.length / 3)));
}

type SessionEnd = (message: string) => void;
let sessionEnd: SessionEnd | null = null;

/** The app's sign-out, for when the session's key stops working (the API answers 401) or its user revokes it. */
export function onSessionEnd(handler: SessionEnd | null): void {
  sessionEnd = handler;
}

/** Forgets the key and takes the app back to the sign-in screen, saying why. */
export function endSession(message: string): void {
  storeKey(null);
  sessionEnd?.(message);
}

/** A failed API call: the envelope's message (what the screens show), status, code and the field it names. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | null,
    /** The envelope's `param`: the request field the error is about (`allowedModels`, `messages[0].content`). */
    readonly param: string | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Printable ASCII without spaces: anything else cannot be a key, and fetch refuses it in a header anyway. */
const KEY_FORMAT = /^[\x21-\x7e]+$/;

function invalidKeyFormat(): ApiError {
  return new ApiError(
    'The API key has an invalid format: a key has only letters, digits and ASCII punctuation (no spaces or accented characters). Check what was pasted.',
    0,
    'invalid_key_format',
  );
}

/** The key as typed or pasted: trimmed and without a pasted `Bearer ` prefix; an ApiError when it cannot be a key. */
export function normalizeKey(input: string): string {
  const key = input.trim().replace(/^bearer\s+/i, '');
  if (!KEY_FORMAT.test(key)) {
    throw invalidKeyFormat();
  }
  return key;
}

interface Envelope {
  error?: { message?: string; code?: string | null; param?: string | null };
}

/** The message of an error envelope, or a plain description when the body is not one. */
export async function errorOf(res: Response): Promise<ApiError> {
  let message = `${res.status} ${res.statusText || 'error'}`;
  let code: string | null = null;
  let param: string | null = null;
  try {
    const body = (await res.json()) as Envelope;
    if (typeof body.error?.message === 'string') {
      message = body.error.message;
      code = body.error.code ?? null;
      param = typeof body.error.param === 'string' ? body.error.param : null;
    }
  } catch {
    // Not JSON (a proxy's page): the status line says enough.
  }
  if (code === null && res.status === 401) {
    // A proxy in front of the gateway (a single sign-on whose own session expired) refused the request: not the key.
    message +=
      ": not the gateway's answer; a proxy in front of it may want you to sign in to it again (reload the page)";
  }
  return new ApiError(message, res.status, code, param);
}

/**
 * The gateway refused the key itself: a 401 in its error envelope (whose `code` it always sets). A 401 page of a
 * proxy in front of the gateway says nothing of the key: forgetting the key for it would make the user paste it again
 * once past the proxy.
 */
export function keyRefusedBy(err: unknown): boolean {
  return err instanceof ApiError && err.status === 401 && err.code !== null;
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  body?: unknown;
  /** A raw body (e.g. YAML) with its content type, instead of JSON. */
  raw?: { text: string; contentType: string };
  key?: string | null;
  signal?: AbortSignal;
}

/** Sends a request with the session's key; the response, or an ApiError with the API's message. */
export async function send(path: string, opts: RequestOptions = {}): Promise<Response> {
  const headers: Record<string, string> = {};
  const key = opts.key === undefined ? storedKey() : opts.key;
  if (key !== null) {
    if (!KEY_FORMAT.test(key)) {
      // fetch would throw a TypeError for the header, which reads as the gateway being unreachable.
      throw invalidKeyFormat();
    }
    headers.authorization = `Bearer ${key}`;
  }
  let body: string | undefined;
  if (opts.raw !== undefined) {
    headers['content-type'] = opts.raw.contentType;
    body = opts.raw.text;
  } else if (opts.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  let res: Response;
  try {
    res = await fetch(path, { method: opts.method ?? 'GET', headers, body, signal: opts.signal });
  } catch (err) {
    if (err instanceof DOMException && err.name === 'AbortError') {
      throw err;
    }
    throw new ApiError('The gateway cannot be reached.', 0, null);
  }
  if (!res.ok) {
    const err = await errorOf(res);
    // The session's own key refused (revoked, expired): sign out rather than fail every screen one by one. A
    // late answer for a key already replaced by another sign-in ends nothing.
    if (keyRefusedBy(err) && opts.key === undefined && key !== null && key === storedKey()) {
      endSession(`You were signed out: ${err.message}`);
    }
    throw err;
  }
  return res;
}

/** JSON of a successful call (undefined for 204). */
export async function api<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const res = await send(path, opts);
  if (res.status === 204) {
    return undefined as T;
  }
  const text = await res.text();
  try {
    return JSON.parse(text) as T;
  } catch {
    // A page where the API's JSON should be (a sign-in proxy in front of the gateway whose own session expired):
    // the parser's "Unexpected token '<'" would say nothing to the admin.
    throw notTheApi(res, 'JSON');
  }
}

/** The media type of an answer (`text/csv`), '' without one. */
function mediaTypeOf(res: Response): string {
  return res.headers.get('content-type')?.split(';')[0].trim().toLowerCase() ?? '';
}

/** An answer that is not the API's `what` (a proxy's page in its place): its status and content type. */
function notTheApi(res: Response, what: string): ApiError {
  return new ApiError(
    `The answer was not the gateway API's ${what} (HTTP ${res.status}, ${mediaTypeOf(res) || 'no content type'}): a proxy in front of the gateway may have answered instead. Reload the page or sign in again.`,
    res.status,
    'invalid_response',
  );
}

/**
 * The text of a successful call whose answer is a file of `type` (the costs CSV): a page a proxy answered in its
 * place (a sign-in proxy's, with a 200) is an ApiError, as in `api`, never offered as the file.
 */
export async function apiFile(path: string, type: string, what: string, opts: RequestOptions = {}): Promise<string> {
  const res = await send(path, opts);
  if (mediaTypeOf(res) !== type) {
    throw notTheApi(res, what);
  }
  return res.text();
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A query string of the defined values. */
export function qs(params: Record<string, string | number | undefined | null>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') {
      p.set(k, String(v));
    }
  }
  const s = p.toString();
  return s === '' ? '' : `?${s}`;
}

/** The largest page the admin listings give (`limit` at most 1000). */
const PAGE_MAX = 1000;

/**
 * Up to `max` items of an admin listing that pages (`{data, nextCursor}`), following its cursor page after page, from
 * the start or from `from` (a `cursor` an earlier call returned); `more`: the listing has items past them, from
 * `cursor` on.
 */
export async function listPages<T>(
  path: string,
  params: Record<string, string | undefined> = {},
  max = Number.POSITIVE_INFINITY,
  from: string | null = null,
): Promise<{ items: T[]; more: boolean; cursor: string | null }> {
  const items: T[] = [];
  let cursor: string | null = from;
  do {
    const limit = Math.min(PAGE_MAX, max - items.length);
    const page: { data: T[]; nextCursor?: string | null } = await api(`${path}${qs({ ...params, limit, cursor })}`);
    items.push(...page.data);
    cursor = page.nextCursor ?? null;
  } while (cursor !== null && items.length < max);
  return { items, more: cursor !== null, cursor };
}

/** A nil UUID: an admin lists its keys (none), anyone else gets 403. Reads nothing of anyone. */
const NIL_USER = '00000000-0000-0000-0000-000000000000';

/**
 * Checks a key and finds its role. There is no "who am I" endpoint: the caller's own usage view checks the key
 * (401 otherwise), and an admin-only read that returns nothing tells an admin (200) from a user (403).
 */
export async function signIn(key: string): Promise<{ role: Role; tier: string }> {
  const usage = await api<{ quota: { tier: string } }>('/api/v1/ai/usage', { key });
  try {
    await api(`/api/v1/ai/admin/keys${qs({ userId: NIL_USER })}`, { key });
    return { role: 'admin', tier: usage.quota.tier };
  } catch (err) {
    // The gateway's own 403 (its envelope): a proxy's page says nothing of the role.
    if (err instanceof ApiError && err.status === 403 && err.code !== null) {
      return { role: 'user', tier: usage.quota.tier };
    }
    throw err;
  }
}
