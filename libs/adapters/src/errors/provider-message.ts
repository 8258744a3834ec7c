/** Longest provider message we carry into an error: enough to diagnose, short enough for logs and attempts lists. */
export const MAX_MESSAGE_CHARS = 300;

/** What a provider said about a failure, from an error body of either wire format (or plain text). */
export interface ProviderErrorDetail {
  message: string;
  /** OpenAI `error.code`, Anthropic `error.type`, when given. */
  code?: string;
  /**
   * The request field the refusal is about, in OpenAI's names (the client's): an OpenAI-style envelope's `error.param`
   * (OpenAI, vLLM, LiteLLM, Ollama's `/v1`), or the parameter a TGI validation error names (`tgiParamOf`).
   */
  param?: string;
  /**
   * A google.rpc.Status body's (Gemini, Vertex AI): `status` (`INVALID_ARGUMENT`, `FAILED_PRECONDITION`, ...) and the
   * `reason` of its `google.rpc.ErrorInfo` detail (`API_KEY_INVALID`, ...), when given.
   */
  googleStatus?: string;
  googleReason?: string;
  /** The `retryDelay` of its `google.rpc.RetryInfo` detail, in ms, when given and readable (see `retryInfoDelayMs`). */
  googleRetryDelayMs?: number;
  /**
   * Set when the body held no message and `message` only describes it (its size and kind): what the provider said is
   * then the body itself, which may still be classified but never shown.
   */
  described?: true;
}

/** The `reason` of a google.rpc.ErrorInfo entry in `error.details`. */
function errorInfoReason(details: unknown): string | undefined {
  if (!Array.isArray(details)) {
    return undefined;
  }
  for (const d of details as unknown[]) {
    const entry = d as { '@type'?: unknown; reason?: unknown } | null;
    if (typeof entry?.['@type'] === 'string' && entry['@type'].endsWith('google.rpc.ErrorInfo')) {
      return str(entry.reason);
    }
  }
  return undefined;
}

/** A protobuf Duration in JSON (`"37s"`, `"0.250s"`), in ms. */
const PROTO_DURATION = /^(\d+(?:\.\d+)?)s$/;

/**
 * The retry delay of a google.rpc.Status error (Gemini, Vertex AI): a `google.rpc.RetryInfo` entry in
 * `error.details` with `retryDelay` as a Duration (`{"@type": "type.googleapis.com/google.rpc.RetryInfo",
 * "retryDelay": "37s"}`). Google sends no Retry-After header on its 429s. Undefined when absent or unreadable.
 */
function retryInfoDelayMs(details: unknown): number | undefined {
  if (!Array.isArray(details)) {
    return undefined;
  }
  for (const d of details as unknown[]) {
    const entry = d as { '@type'?: unknown; retryDelay?: unknown } | null;
    if (
      typeof entry?.['@type'] === 'string' &&
      entry['@type'].endsWith('google.rpc.RetryInfo') &&
      typeof entry.retryDelay === 'string'
    ) {
      const m = PROTO_DURATION.exec(entry.retryDelay.trim());
      return m === null ? undefined : Math.ceil(Number(m[1]) * 1000);
    }
  }
  return undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

/**
 * The text of a `message` or `detail` field: a string; FastAPI's validation list (`[{"loc": [...], "msg": "..."}]`,
 * each entry's `msg` or `message`); or an envelope nested in it (Mistral's `{"object": "error", "message": {"detail":
 * [...]}}`).
 */
function messageText(v: unknown, depth: number): string | undefined {
  if (Array.isArray(v)) {
    const msgs = (v as unknown[])
      .map((entry) => {
        const e = entry as { msg?: unknown; message?: unknown } | null;
        return typeof e === 'object' && e !== null ? (str(e.msg) ?? str(e.message)) : str(entry);
      })
      .filter((m): m is string => m !== undefined);
    return msgs.length > 0 ? msgs.join('; ') : undefined;
  }
  if (typeof v === 'object' && v !== null) {
    return errorDetailOf(v, depth + 1)?.message;
  }
  return str(v);
}

/**
 * Pull the message out of `{"error": {...}}`, `{"error": "..."}`, `{"message": ...}` or `{"detail": ...}` bodies, or
 * of the first entry of a top-level array (Google's `[{"error": {...}}]`). Undefined when no field says what went
 * wrong: an `error` object of other fields (`{"error": {"AccessKeyId": ...}}`) is no message and is not echoed.
 */
export function errorDetailOf(parsed: unknown, depth = 0): ProviderErrorDetail | undefined {
  if (depth > 3) {
    return undefined;
  }
  if (Array.isArray(parsed)) {
    return depth === 0 && parsed.length > 0 ? errorDetailOf(parsed[0], depth + 1) : undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) {
    return undefined;
  }
  const body = parsed as Record<string, unknown>;
  const err = body.error;
  if (typeof err === 'object' && err !== null && !Array.isArray(err)) {
    const e = err as Record<string, unknown>;
    const googleStatus = str(e.status);
    const message = messageText(e.message, depth) ?? str(e.type) ?? str(e.code) ?? googleStatus;
    if (message === undefined) {
      return undefined;
    }
    const detail: ProviderErrorDetail = { message, code: str(e.code) ?? str(e.type) };
    const param = str(e.param);
    // LiteLLM's proxy writes Python's None as the text "None" (`"param": "None"`): it names no field.
    if (param !== undefined && param !== 'None') {
      detail.param = param;
    }
    if (googleStatus !== undefined) {
      detail.googleStatus = googleStatus;
      detail.googleReason = errorInfoReason(e.details);
      const retryDelayMs = retryInfoDelayMs(e.details);
      if (retryDelayMs !== undefined) {
        detail.googleRetryDelayMs = retryDelayMs;
      }
    }
    return detail;
  }
  const message = str(err) ?? messageText(body.message, depth) ?? messageText(body.detail, depth);
  if (message === undefined) {
    return undefined;
  }
  const param = body.error_type === 'validation' ? tgiParamOf(message) : undefined;
  return { message, code: str(body.code) ?? str(body.type), ...(param === undefined ? {} : { param }) };
}

/**
 * TGI's parameters (`/generate`'s `parameters`, and `inputs`) by the request field a client sets for each, in
 * OpenAI's names. A parameter the gateway sets itself (`details`, `decoder_input_details`, `do_sample`) is nobody's
 * to fix: it names no field.
 */
const TGI_PARAMS: Readonly<Record<string, string>> = {
  inputs: 'messages',
  max_new_tokens: 'max_tokens',
  temperature: 'temperature',
  top_p: 'top_p',
  top_k: 'top_k',
  stop: 'stop',
  seed: 'seed',
  frequency_penalty: 'frequency_penalty',
  grammar: 'response_format',
  // TGI's own OpenAI-compatible route names these as the client sent them.
  max_tokens: 'max_tokens',
  presence_penalty: 'presence_penalty',
  n: 'n',
  top_logprobs: 'top_logprobs',
  response_format: 'response_format',
  tools: 'tools',
};

/**
 * The request field a TGI validation error is about: its message names the parameter first, in backticks (``Input
 * validation error: `temperature` must be strictly positive``). TGI's wire has no field for it.
 */
function tgiParamOf(message: string): string | undefined {
  const named = /`([a-z_]+)`/.exec(message)?.[1];
  return named !== undefined && Object.hasOwn(TGI_PARAMS, named) ? TGI_PARAMS[named] : undefined;
}

/** The longest body shown when it is no error envelope: one plain line (`404 page not found`, a proxy's `Bad Gateway`). */
const MAX_PLAIN_BODY_CHARS = 160;

/**
 * The error detail of a failed answer's body: the provider's own message when the body is an error envelope; a short
 * one-line plain-text body as it is; anything else only described. Such a body is not an LLM server's error, and its
 * text reaches admins (connection tests, health) and callers (attempts): a provider URL an admin pointed at another
 * internal service (a cloud metadata endpoint answers JSON credentials) would read that service back through it.
 */
export function detailFromBody(text: string): ProviderErrorDetail {
  const trimmed = text.trim();
  let json = false;
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    try {
      const parsed: unknown = JSON.parse(trimmed);
      json = true;
      const detail = errorDetailOf(parsed);
      if (detail !== undefined) {
        return detail;
      }
    } catch {
      // Not JSON after all: plain text.
    }
  }
  if (trimmed.length === 0) {
    return { message: 'no error message' };
  }
  if (!json && trimmed.length <= MAX_PLAIN_BODY_CHARS && !/[\r\n]/.test(trimmed)) {
    return { message: trimmed };
  }
  return {
    message: `a ${trimmed.length}-character ${json ? 'JSON' : 'text'} body without an error message (not shown)`,
    described: true,
  };
}

// Things that look like credentials: OpenAI/Anthropic style keys (even partly masked) and bearer tokens.
const SECRET_LIKE = /\b(?:sk|pk|rk|api|key)[-_][A-Za-z0-9_*.-]{6,}|\bBearer\s+\S+/gi;
// The user and password of a URL (`postgres://admin:pw@db/app` in a crashed server's traceback, a proxy's upstream).
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@]+@/gi;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The key as it was sent, URL-encoded (a proxy that echoes the query or form it received), and masked as proxies
 * print it (LiteLLM's `proxy+...123xyz`: a head and a tail of the key around `...`, `…` or asterisks), each replaced.
 * Keys that look like no known format (`proxy+key/ABC=123xyz`) pass SECRET_LIKE; only these catch them.
 */
function withoutKey(message: string, apiKey: string): string {
  let out = message;
  for (const form of new Set([apiKey, encodeURIComponent(apiKey)])) {
    if (out.includes(form)) {
      out = out.split(form).join('[redacted]');
    }
  }
  if (apiKey.length >= 12) {
    const head = escapeRegExp(apiKey.slice(0, 4));
    const tail = escapeRegExp(apiKey.slice(-4));
    out = out.replace(new RegExp(`${head}\\S{0,16}?(?:\\.{3}|…|\\*{3,})\\S{0,16}?${tail}`, 'g'), '[redacted]');
  }
  return out;
}

/**
 * Make a provider message safe and short for our errors: providers echo (masked) keys in auth errors, servers quote
 * URLs with their credentials, and neither may reach a log or a client. The one place a provider's text is cleaned:
 * every error that carries one passes it here with `apiKey`, the key the call sent. Cleaned first, cut after: a key
 * that straddled the cut would leave its first characters, and no whole key to find.
 */
export function safeMessage(message: string, apiKey?: string): string {
  let out = message;
  if (apiKey !== undefined && apiKey.length > 0) {
    out = withoutKey(out, apiKey);
  }
  out = out.replace(URL_CREDENTIALS, '$1[redacted]@').replace(SECRET_LIKE, '[redacted]').replace(/\s+/g, ' ').trim();
  return out.length > MAX_MESSAGE_CHARS ? `${out.slice(0, MAX_MESSAGE_CHARS - 1)}…` : out;
}
