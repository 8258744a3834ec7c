/** Longest provider message we carry into an error: enough to diagnose, short enough for logs and attempts lists. */
export const MAX_MESSAGE_CHARS = 300;

/** What a provider said about a failure, from an error body of either wire format (or plain text). */
export interface ProviderErrorDetail {
  message: string;
  /** OpenAI `error.code`, Anthropic `error.type`, when given. */
  code?: string;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

/** Pull the message out of `{"error": {...}}`, `{"error": "..."}`, `{"message": ...}` or `{"detail": ...}` bodies. */
export function errorDetailOf(parsed: unknown): ProviderErrorDetail | undefined {
  if (typeof parsed !== 'object' || parsed === null) {
    return undefined;
  }
  const body = parsed as Record<string, unknown>;
  const err = body.error;
  if (typeof err === 'object' && err !== null) {
    const e = err as Record<string, unknown>;
    const message = str(e.message) ?? str(e.type) ?? JSON.stringify(e);
    return { message, code: str(e.code) ?? str(e.type) };
  }
  const message = str(err) ?? str(body.message) ?? str(body.detail);
  return message === undefined ? undefined : { message, code: str(body.code) ?? str(body.type) };
}

export function detailFromBody(text: string): ProviderErrorDetail {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    try {
      const detail = errorDetailOf(JSON.parse(trimmed));
      if (detail !== undefined) {
        return detail;
      }
    } catch {
      // Not JSON after all: fall back to the raw text.
    }
  }
  return { message: trimmed.length > 0 ? trimmed : 'no error message' };
}

// Things that look like credentials: OpenAI/Anthropic style keys (even partly masked) and bearer tokens.
const SECRET_LIKE = /\b(?:sk|pk|rk|api|key)[-_][A-Za-z0-9_*.-]{6,}|\bBearer\s+\S+/gi;

/**
 * Make a provider message safe and short for our errors: providers echo (masked) keys in auth errors, and a key
 * must never reach a log or a client.
 */
export function safeMessage(message: string, apiKey?: string): string {
  let out = message;
  if (apiKey !== undefined && apiKey.length > 0 && out.includes(apiKey)) {
    out = out.split(apiKey).join('[redacted]');
  }
  out = out.replace(SECRET_LIKE, '[redacted]').replace(/\s+/g, ' ').trim();
  return out.length > MAX_MESSAGE_CHARS ? `${out.slice(0, MAX_MESSAGE_CHARS - 1)}…` : out;
}
