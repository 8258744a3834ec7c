import { ErrorClass, ProviderCallError } from '@aigw/core';
import {
  ietfRateLimit,
  parseDurationMs,
  parseRetryAfter,
  shouldRetryHint,
  spentWindowResetMs,
  type ResponseHeaders,
} from '../http/headers';
import { detailFromBody, type ProviderErrorDetail, safeMessage } from './provider-message';
import type { CallerSignal } from '../http/caller-signal';

const CONTEXT_LENGTH_CODES = new Set([
  'context_length_exceeded',
  'string_above_max_length',
  'request_too_large',
  // llama.cpp's server (`error.type`).
  'exceed_context_size_error',
]);
// OpenAI and vLLM say "maximum context length", Anthropic "prompt is too long", others "context window/length";
// Anthropic also "input length and `max_tokens` exceed context limit: N + M > W" (the prompt fits, not with the answer
// it may take); Gemini "The input token count (N) exceeds the maximum number of tokens allowed (M)"; llama.cpp "exceeds
// the available context size"; TGI's validation "`inputs` tokens + `max_new_tokens` must be <= N" and "`inputs` must
// have less than N tokens".
const CONTEXT_LENGTH_TEXT =
  /maximum context length|prompt is too long|exceed context limit|context[ _-](?:length|window) (?:exceeded|is exceeded)|exceeds? the (?:model's |available )?context|input token count.{0,40}exceeds the maximum|`inputs` tokens \+ `max_new_tokens` must be|`inputs` must have less than \d+ tokens/i;

/**
 * A 400 about the account, not the request: Google answers a bad, expired or blocked API key, a disabled API or
 * billing, and an unsupported region with 400 (`INVALID_ARGUMENT` with an ErrorInfo reason, `FAILED_PRECONDITION`).
 * Like a 401/403 it is the operator's to mend and another deployment may answer; as InvalidRequest it was blamed on
 * the client, skipped the fallback and never counted against the deployment.
 */
const ACCOUNT_REASONS = new Set([
  'API_KEY_INVALID',
  'API_KEY_EXPIRED',
  'API_KEY_SERVICE_BLOCKED',
  'API_KEY_HTTP_REFERRER_BLOCKED',
  'API_KEY_IP_ADDRESS_BLOCKED',
  'SERVICE_DISABLED',
  'BILLING_DISABLED',
  'CONSUMER_SUSPENDED',
  'CONSUMER_INVALID',
]);

/**
 * Anthropic refuses every call of an account whose prepaid credits ran out with a 400 `invalid_request_error` ("Your
 * credit balance is too low to access the Anthropic API"), as LiteLLM relays it too, and every call of a workspace or
 * organization past the monthly spend limit its admin set alike ("You have reached your specified API usage limits.
 * You will regain access on <date>"). As InvalidRequest it was the client's own 400 at once: no other deployment was
 * tried and the deployment's circuit never opened, until someone paid or the month turned. It is the account's, as
 * HuggingFace's 402 for spent credits is; so is Anthropic's `billing_error` type, whatever status it comes with.
 */
export const CREDIT_EXHAUSTED_TEXT = /credit balance is too low|reached your specified API usage limits/i;

/**
 * `said` is what the provider said: its error message, or the whole body when it held none (a traceback, a web page, a
 * JSON document of another shape). The body is then only described to whoever sees the error, but its words still
 * decide the class: a failure is classified on what the provider answered, not on what may be shown of it.
 */
function isAccountProblem(detail: ProviderErrorDetail, said: string): boolean {
  return (
    detail.googleStatus === 'FAILED_PRECONDITION' ||
    (detail.googleReason !== undefined && ACCOUNT_REASONS.has(detail.googleReason)) ||
    /API key (?:not valid|expired|is invalid)/i.test(said) ||
    isSpentAccount(detail, said)
  );
}

/** An account out of money (credits, a spend limit, billing), at 400 or 429: waiting a minute will not mend it. */
function isSpentAccount(detail: ProviderErrorDetail, said: string): boolean {
  return detail.code === 'insufficient_quota' || detail.code === 'billing_error' || CREDIT_EXHAUSTED_TEXT.test(said);
}

/**
 * A request larger by itself than the account's tokens-per-minute limit: OpenAI's 429 and Groq's 413 "Request too large
 * for <model> in organization ... on tokens per min(ute) (TPM): Limit N, Requested M" (a limit reached by several
 * requests together says "Rate limit reached" instead). No wait lets it through: as a RateLimit it was retried after
 * backoff, counted against the deployment's circuit and could set the deployment aside for everyone (a cooldown) for
 * one client's oversized request. Too long for this deployment, as for a context window (ContextLength): a deployment
 * with room may take it, and the client is told to shorten it.
 */
const OVER_TOKENS_PER_MINUTE_TEXT = /request too large for .{1,300}? on tokens per min/i;

/**
 * A 400 that says the server does not serve the model asked for: LiteLLM's proxy (ProxyModelNotFoundError, "Invalid
 * model name passed in model=X"), or a server giving OpenAI's `model_not_found` code a 400. The gateway sends the
 * deployment's configured model name, never one the client chose: the deployment's configuration is at fault, as with
 * a 404 (NotFound), not the client's request, which another deployment (or the direct route) may well serve. As
 * InvalidRequest the client got a 400 for it and no fallback was tried.
 */
const MODEL_NOT_SERVED_TEXT = /Invalid model name passed in model=/i;

function isModelNotServed(detail: ProviderErrorDetail, said: string): boolean {
  return detail.code === 'model_not_found' || MODEL_NOT_SERVED_TEXT.test(said);
}

/**
 * The wait OpenAI's rate-limit 429 names in its message ("... Please try again in 1.898s.", "in 20ms", "in 6m0s"; Groq
 * words it alike), which is the wait for this request, where the `x-ratelimit-reset-*` headers give the time until the
 * whole window is back.
 */
const TRY_AGAIN_IN = /\btry again in ((?:\d+(?:\.\d+)?(?:ms|h|m|s))+)/i;

function toldWaitMs(said: string): number | undefined {
  const m = TRY_AGAIN_IN.exec(said);
  return m === null ? undefined : parseDurationMs(m[1]);
}

/**
 * The wait a 429 names, most precise first: Retry-After (or `retry-after-ms`); Google's RetryInfo in the body (Gemini
 * sends only that); the wait OpenAI's message names; the reset of the window the headers say is spent (OpenAI's
 * `x-ratelimit-*`, Anthropic's `anthropic-ratelimit-*`); the IETF RateLimit reset (HuggingFace's free tier sends only
 * that). Undefined when none says: the rate limit then names no wait (the next deployment is tried at once).
 */
function rateLimitWaitMs(
  headers: ResponseHeaders,
  detail: ProviderErrorDetail,
  said: string,
  now: number,
): number | undefined {
  return (
    parseRetryAfter(headers, now) ??
    detail.googleRetryDelayMs ??
    toldWaitMs(said) ??
    spentWindowResetMs(headers, now) ??
    ietfRateLimit(headers)?.resetRequestsMs
  );
}

function isContextLength(detail: ProviderErrorDetail, said: string): boolean {
  return (detail.code !== undefined && CONTEXT_LENGTH_CODES.has(detail.code)) || CONTEXT_LENGTH_TEXT.test(said);
}

/**
 * Classify a non-2xx answer from its status, headers and (already fully read) body. Pure. The provider's
 * `x-should-retry` rides along (`ProviderCallError.shouldRetry`): whether the same deployment is called again follows
 * it over the class, as the OpenAI and Anthropic SDKs obey it over the status; the class still decides the fallback and
 * the circuit. The headers are read only here, on a failure.
 */
export function classifyHttpFailure(
  status: number,
  headers: ResponseHeaders,
  bodyText: string,
  apiKey?: string,
  now = Date.now(),
): ProviderCallError {
  const detail = detailFromBody(bodyText);
  const said = detail.described === true ? bodyText : detail.message;
  const message = `upstream HTTP ${status}: ${safeMessage(detail.message, apiKey)}`;
  const shouldRetry = shouldRetryHint(headers);
  const make = (c: ErrorClass, retryAfterMs?: number): ProviderCallError =>
    new ProviderCallError(c, message, { status, retryAfterMs, shouldRetry });

  if (status === 400 || status === 422) {
    if (isContextLength(detail, said)) {
      return make(ErrorClass.ContextLength);
    }
    if (status === 400 && isAccountProblem(detail, said)) {
      return make(ErrorClass.Auth);
    }
    if (status === 400 && isModelNotServed(detail, said)) {
      return make(ErrorClass.NotFound);
    }
    // The field the provider named, for the client's 400 (`invalidRequestFailure`).
    return new ProviderCallError(ErrorClass.InvalidRequest, message, { status, param: detail.param, shouldRetry });
  }
  if (status === 413) {
    return make(ErrorClass.ContextLength);
  }
  // 402: the account's credits are spent (HuggingFace's router once the monthly included credits are used up). Like a
  // bad key, waiting will not help, but another deployment may well answer: never a fatal "invalid request".
  if (status === 401 || status === 402 || status === 403) {
    return make(ErrorClass.Auth);
  }
  if (status === 404) {
    // Usually "model not found here" (Ollama's model not pulled, Gemini's NOT_FOUND, OpenAI's `model_not_found`): the
    // same model may well be served by another deployment, but retrying this one will not make it appear, and a
    // provider that answered so is not sick (NotFound: no retry, no circuit failure, fallback allowed). As Provider it
    // was retried twice with backoff and counted against the deployment's circuit.
    return make(ErrorClass.NotFound);
  }
  if (status === 408) {
    return make(ErrorClass.Timeout, parseRetryAfter(headers, now));
  }
  // 409 Conflict: a transient clash on the provider's side (OpenAI's lock timeouts, Google's ABORTED "retry the
  // request"), which the OpenAI and Anthropic SDKs retry as they do 408, 429 and 5xx. The gateway sends no state of
  // the client's a provider could conflict with: as InvalidRequest the client got a 400 (that no SDK retries) and the
  // other deployments of the model were never tried.
  if (status === 409) {
    return make(ErrorClass.Provider, parseRetryAfter(headers, now));
  }
  // 424 Failed Dependency: TGI's answer when generation itself failed on the server (a shard, CUDA out of memory),
  // a server fault like a 5xx, not the request's.
  if (status === 424) {
    return make(ErrorClass.Provider);
  }
  // 498: Groq's flex tier out of capacity (`capacity_exceeded`, "try again later"): a provider fault another deployment
  // can answer, not the request's (under the 4xx rule below it failed fast as an invalid request).
  if (status === 498) {
    return make(ErrorClass.Provider);
  }
  if (status === 429) {
    if (OVER_TOKENS_PER_MINUTE_TEXT.test(said)) {
      return make(ErrorClass.ContextLength);
    }
    // An exhausted account (OpenAI `insufficient_quota`; Anthropic's spent credits, spend limit or `billing_error`)
    // will not recover by waiting: treat it like a credential problem so routing moves on instead of retrying.
    if (isSpentAccount(detail, said)) {
      return make(ErrorClass.Auth);
    }
    return make(ErrorClass.RateLimit, rateLimitWaitMs(headers, detail, said, now));
  }
  // A Retry-After (or `retry-after-ms`) on any 5xx is the provider's wait before the next call, as the SDKs read it on
  // every status they retry: a 500, 502 or 504 that names one is not called again sooner. Only a 503 or 529 (no room)
  // sets the deployment aside for it (`circuitCooldownOf`); the others still count against its circuit.
  if (status >= 500) {
    return make(ErrorClass.Provider, parseRetryAfter(headers, now));
  }
  if (status >= 400) {
    return make(isContextLength(detail, said) ? ErrorClass.ContextLength : ErrorClass.InvalidRequest);
  }
  // 1xx/3xx: we never follow redirects, so a moved endpoint is a misconfigured provider.
  return make(ErrorClass.Provider);
}

/** An in-band error's `code` when it is an HTTP error status (vLLM and llama.cpp send 400, LiteLLM "400"). */
function inBandStatus(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) {
    return undefined;
  }
  const code = (error as { code?: unknown }).code;
  const status = typeof code === 'string' && /^\d{3}$/.test(code) ? Number(code) : code;
  return typeof status === 'number' && Number.isInteger(status) && status >= 400 && status <= 599 ? status : undefined;
}

/**
 * The class of an error a provider reported in band: inside a 200 body or as a stream event, where the HTTP status
 * says nothing. vLLM streams `{"object":"error",...,"code":400}`, llama.cpp an `error:` line with its `code` and
 * `type` (`exceed_context_size_error`), LiteLLM and OpenRouter `{"error":{...,"code":"400"}}`. The status it names is
 * classified as the same answer with that status would be (`classifyHttpFailure`), so a request the provider refused
 * as invalid is the client's: not retried, not fallen back from, not counted against the deployment's circuit (a
 * Provider class did all three: one client's bad streamed request opened the circuit of a healthy deployment). One
 * naming no status is a provider error unless it says the context is exceeded. `error` is the error object (or its
 * text).
 */
export function classifyInBandError(
  error: unknown,
  apiKey?: string,
  now = Date.now(),
): { errorClass: ErrorClass; retryAfterMs?: number; overloaded?: true } {
  const body = JSON.stringify({ error });
  const status = inBandStatus(error);
  if (status !== undefined) {
    // A Google in-band 429 says when to come back in its RetryInfo, as the same answer with that status would.
    const { errorClass, retryAfterMs } = classifyHttpFailure(status, {}, body, apiKey, now);
    const out: { errorClass: ErrorClass; retryAfterMs?: number; overloaded?: true } = { errorClass };
    if (retryAfterMs !== undefined) {
      out.retryAfterMs = retryAfterMs;
    }
    // A 503 or 529 named in band is the provider out of room, as the same status before the stream is (the breaker
    // reads that one by its status; an in-band error has none): said `overloaded`, as Gemini's in-band UNAVAILABLE is.
    if (status === 503 || status === 529) {
      out.overloaded = true;
    }
    return out;
  }
  const detail = detailFromBody(body);
  const said = detail.described === true ? body : detail.message;
  return { errorClass: isContextLength(detail, said) ? ErrorClass.ContextLength : ErrorClass.Provider };
}

/**
 * A TGI in-band error (`{"error": "<text>", "error_type": "..."}`): an event of a stream answered with status 200, of
 * its native `/generate_stream` and of its Messages API (`/v1/chat/completions`) alike. TGI validates a streamed
 * request inside the stream it opened, so a prompt over the model's window (`` `inputs` tokens + `max_new_tokens` must
 * be <= N ``) or a parameter out of range arrives so, as `error_type: "validation"`: classified as the 422 TGI answers
 * an unstreamed request with (`classifyHttpFailure`), context length or the request's fault naming its field. As a
 * provider error it was retried, fallen back from and counted against the deployment's circuit (one client's long
 * prompts opened it), and the client got a 502 for its own mistake. Undefined for any other error.
 */
export function classifyTgiValidation(
  error: unknown,
  errorType: unknown,
  apiKey?: string,
): { errorClass: ErrorClass; param?: string } | undefined {
  if (errorType !== 'validation' || typeof error !== 'string') {
    return undefined;
  }
  const { errorClass, param } = classifyHttpFailure(422, {}, JSON.stringify({ error, error_type: errorType }), apiKey);
  return param === undefined ? { errorClass } : { errorClass, param };
}

const TIMEOUT_CODES = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
]);

const NETWORK_CODES = new Set([
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_DESTROYED',
  'UND_ERR_INFO',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
  'UND_ERR_PRX_TLS',
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_FAIL',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EADDRNOTAVAIL',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

const CANCEL_CODES = new Set(['UND_ERR_ABORTED', 'UND_ERR_ABORT', 'ABORT_ERR']);

function classOfCode(code: string): ErrorClass | undefined {
  if (TIMEOUT_CODES.has(code)) {
    return ErrorClass.Timeout;
  }
  if (NETWORK_CODES.has(code) || code.startsWith('HPE_') || code.startsWith('ERR_SSL_')) {
    return ErrorClass.Network;
  }
  if (CANCEL_CODES.has(code)) {
    return ErrorClass.Cancelled;
  }
  if (code === 'UND_ERR_INVALID_ARG') {
    return ErrorClass.Gateway;
  }
  if (code === 'UND_ERR_HEADERS_OVERFLOW' || code === 'UND_ERR_RES_EXCEEDED_MAX_SIZE') {
    return ErrorClass.Provider;
  }
  return undefined;
}

interface Found {
  errorClass: ErrorClass;
  code: string;
  message: string;
  /** The erroring object, whose fields name where it tried to connect (`address`, `hostname`, `host`, `port`). */
  source: TransportFields;
}

interface TransportFields {
  code?: unknown;
  name?: unknown;
  message?: unknown;
  cause?: unknown;
  errors?: unknown;
  address?: unknown;
  hostname?: unknown;
  host?: unknown;
  port?: unknown;
}

const IPV4 = /\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?\b/g;
const BRACKETED_IPV6 = /\[[0-9a-f:.]+\](?::\d{1,5})?/gi;

/**
 * A transport error's message without the provider's host, address or port: it becomes the attempt's message, which
 * every client is shown (`attempts` of a 502, a stream's error event), and an internal host name or address is the
 * operator's to know (the provider id says which deployment failed). Node's system errors read `<syscall> <code>
 * <address>[:<port>]` and give the address as fields; undici's connect timeout and the TLS altname check write it
 * into their own sentences.
 */
function withoutAddress(found: Found): string {
  if (found.code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return "the provider's TLS certificate does not name its host";
  }
  let out = found.message.replace(/attempted address: [^,)]*(?:, )?/, '');
  const { address, hostname, host, port } = found.source;
  for (const where of [address, hostname, host]) {
    if (typeof where === 'string' && where.length > 0) {
      const at = typeof port === 'number' || typeof port === 'string' ? `${where}:${port}` : where;
      out = out.split(at).join('').split(where).join('');
    }
  }
  return out.replace(IPV4, '').replace(BRACKETED_IPV6, '').replace(/\s+/g, ' ').trim();
}

/** Transport errors arrive wrapped (`cause`) or grouped (AggregateError from happy-eyeballs connects). */
function findTransportClass(err: unknown, depth = 0): Found | undefined {
  if (typeof err !== 'object' || err === null || depth > 4) {
    return undefined;
  }
  const e = err as TransportFields;
  const message = typeof e.message === 'string' ? e.message : '';
  if (typeof e.code === 'string') {
    const c = classOfCode(e.code);
    if (c !== undefined) {
      return { errorClass: c, code: e.code, message, source: e };
    }
  }
  if (e.name === 'TimeoutError') {
    return { errorClass: ErrorClass.Timeout, code: 'TimeoutError', message, source: e };
  }
  const nested = findTransportClass(e.cause, depth + 1);
  if (nested !== undefined) {
    return nested;
  }
  if (Array.isArray(e.errors) && e.errors.length > 0) {
    return findTransportClass(e.errors[0], depth + 1);
  }
  if (e.name === 'AbortError') {
    return { errorClass: ErrorClass.Cancelled, code: 'AbortError', message, source: e };
  }
  return undefined;
}

/**
 * Turn anything a provider call can throw into a ProviderCallError. `signal` is the caller's: once it has
 * aborted, whatever broke is a consequence of the cancellation. `apiKey`, the key the call sent, is kept out of the
 * message. A ProviderCallError is returned as it is: its message was made safe where it was made.
 */
export function classifyError(err: unknown, signal?: CallerSignal, apiKey?: string): ProviderCallError {
  if (err instanceof ProviderCallError) {
    return err;
  }
  if (signal?.aborted === true) {
    return new ProviderCallError(ErrorClass.Cancelled, 'cancelled by the caller', { cause: err });
  }
  const found = findTransportClass(err);
  if (found !== undefined) {
    const what =
      found.errorClass === ErrorClass.Timeout
        ? 'timed out'
        : found.errorClass === ErrorClass.Cancelled
          ? 'aborted'
          : `${found.errorClass} error`;
    const detail = safeMessage(withoutAddress(found), apiKey);
    return new ProviderCallError(
      found.errorClass,
      `upstream ${what} (${found.code})${detail === '' ? '' : `: ${detail}`}`,
      { cause: err },
    );
  }
  const message = err instanceof Error ? err.message : typeof err === 'string' ? err : 'unknown failure';
  return new ProviderCallError(ErrorClass.Provider, `upstream call failed: ${safeMessage(message, apiKey)}`, {
    cause: err,
  });
}

/**
 * Whether a call failed because no connection to the provider could be made in time (a host that drops the
 * connection attempts, e.g. behind a firewall): a timeout by class, but one the provider never saw, which another
 * route (an `auto` provider's gateway) may get around.
 */
export function isConnectTimeout(err: ProviderCallError): boolean {
  return findTransportClass(err.cause)?.code === 'UND_ERR_CONNECT_TIMEOUT';
}
