/**
 * Error taxonomy. `ErrorClass` classifies a failed provider call (drives retry and fallback);
 * `ErrorCode` is what a client sees, mapped to HTTP in exactly one place (`httpStatusOf`).
 */

export enum ErrorClass {
  Network = 'network',
  Timeout = 'timeout',
  RateLimit = 'rate_limit',
  Auth = 'auth',
  InvalidRequest = 'invalid_request',
  ContextLength = 'context_length',
  /**
   * The provider does not have what was asked of it (a 404): a model it does not serve (Ollama's "model not found, try
   * pulling it first", Gemini's NOT_FOUND, OpenAI's `model_not_found`) or a path it lacks. Asking again will not make
   * it appear, and the provider answered as it should: another deployment of the model may serve it.
   */
  NotFound = 'not_found',
  Provider = 'provider',
  Gateway = 'gateway',
  Cancelled = 'cancelled',
}

/** Classes worth retrying on the same deployment. */
export function isRetryableClass(c: ErrorClass): boolean {
  switch (c) {
    case ErrorClass.Network:
    case ErrorClass.Timeout:
    case ErrorClass.RateLimit:
    case ErrorClass.Provider:
      return true;
    case ErrorClass.Auth:
    case ErrorClass.InvalidRequest:
    case ErrorClass.ContextLength:
    case ErrorClass.NotFound:
    case ErrorClass.Gateway:
    case ErrorClass.Cancelled:
      return false;
  }
}

/** Classes that would fail on every provider: do not fall back. */
export function isFatalClass(c: ErrorClass): boolean {
  return c === ErrorClass.InvalidRequest || c === ErrorClass.Cancelled;
}

/** Failures that count against a deployment's health (circuit breaker). */
export function countsAgainstProvider(c: ErrorClass): boolean {
  switch (c) {
    case ErrorClass.Network:
    case ErrorClass.Timeout:
    case ErrorClass.RateLimit:
    case ErrorClass.Provider:
    case ErrorClass.Auth:
    case ErrorClass.Gateway:
      return true;
    // NotFound says nothing of the deployment's health, and may be the request's own doing (OpenRouter answers 404
    // "No endpoints found that support tool use"): one client's requests must not open the circuit for everyone's.
    case ErrorClass.InvalidRequest:
    case ErrorClass.ContextLength:
    case ErrorClass.NotFound:
    case ErrorClass.Cancelled:
      return false;
  }
}

export enum ErrorCode {
  InvalidRequest = 'invalid_request',
  InvalidJson = 'invalid_json',
  /** No deployment of the requested model has a capability the request needs (tools, vision, json). */
  UnsupportedCapability = 'unsupported_capability',
  /** No deployment of the requested model can honour a field the request set (e.g. logit_bias on Anthropic). */
  UnsupportedParameter = 'unsupported_parameter',
  InvalidApiKey = 'invalid_api_key',
  PermissionDenied = 'permission_denied',
  NotFound = 'not_found',
  /** The path exists, with other methods (a 405 naming them in `Allow`). */
  MethodNotAllowed = 'method_not_allowed',
  ModelNotFound = 'model_not_found',
  IdempotencyConflict = 'idempotency_key_reused',
  /** The change clashes with the current state (an id already taken, a record still referenced). */
  Conflict = 'conflict',
  /** The named provider or model exists but cannot take requests now (disabled, circuit open, health failing). */
  ModelUnavailable = 'model_unavailable',
  PayloadTooLarge = 'payload_too_large',
  /** A body in a format the route does not read (a form, say, where JSON is required). */
  UnsupportedMediaType = 'unsupported_media_type',
  ContextLengthExceeded = 'context_length_exceeded',
  RateLimited = 'rate_limit_exceeded',
  /**
   * Every provider call the request made was refused for the provider's rate limit (the gateway's own retries and
   * fallback included): a 429 with the shortest wait a provider asked for, which clients' retry logic honours.
   */
  ProviderRateLimited = 'provider_rate_limited',
  /**
   * Every provider call the request made was refused for want of capacity, before anything reached the client: the
   * provider said it is overloaded (Anthropic's 529 `overloaded_error`) or unavailable (503, Gemini's `UNAVAILABLE` in a
   * stream), or rate limited it (but not every one a rate limit: that is `provider_rate_limited`); a provider that could
   * not be reached at all (a network failure, or a connect timeout) among them weighs neither way. A 503 with
   * Retry-After that says to retry (`overloaded_error` on the Anthropic entrance, as Anthropic answers it): the same
   * request a little later likely succeeds, where `all_providers_failed` would have the SDKs give up.
   */
  AllProvidersOverloaded = 'all_providers_overloaded',
  /** A daily or monthly request or spend limit of the user is used up. */
  QuotaExceeded = 'quota_exceeded',
  /** The key may not use the requested model (its allow-list). */
  ModelNotAllowed = 'model_not_allowed',
  KeyExpired = 'key_expired',
  ProviderError = 'provider_error',
  /**
   * The provider said it is overloaded (Anthropic's `overloaded_error`) after the answer had started streaming, when
   * there is no falling back any more: `overloaded_error` on the Anthropic entrance, as the provider said it.
   */
  ProviderOverloaded = 'provider_overloaded',
  /**
   * Every provider call failed, and not all for capacity (a 500, a timeout after the request was sent, a refused key
   * among them): a 502 with `x-should-retry: false` (the gateway already retried and fell back), and a Retry-After only
   * while a deployment it tried is set aside for a wait its provider named (a cooldown): the time left of the soonest.
   */
  AllProvidersFailed = 'all_providers_failed',
  NoHealthyProvider = 'no_healthy_provider',
  Timeout = 'timeout',
  ServiceUnavailable = 'service_unavailable',
  /**
   * This gateway process already holds `MAX_PENDING_REQUESTS` sync and streamed requests (waiting for a worker or
   * running): a 503 with `Retry-After`, refused before anything was counted or queued, for another replica or later.
   */
  GatewayOverloaded = 'gateway_overloaded',
  Internal = 'internal_error',
}

export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'conflict_error'
  | 'rate_limit_error'
  | 'provider_error'
  | 'timeout_error'
  | 'service_unavailable_error'
  | 'api_error';

export function httpStatusOf(code: ErrorCode): number {
  switch (code) {
    case ErrorCode.InvalidRequest:
    case ErrorCode.InvalidJson:
    case ErrorCode.UnsupportedCapability:
    case ErrorCode.UnsupportedParameter:
    case ErrorCode.ContextLengthExceeded:
      return 400;
    case ErrorCode.InvalidApiKey:
    case ErrorCode.KeyExpired:
      return 401;
    case ErrorCode.PermissionDenied:
    case ErrorCode.ModelNotAllowed:
      return 403;
    case ErrorCode.NotFound:
    case ErrorCode.ModelNotFound:
      return 404;
    case ErrorCode.MethodNotAllowed:
      return 405;
    case ErrorCode.IdempotencyConflict:
    case ErrorCode.Conflict:
    case ErrorCode.ModelUnavailable:
      return 409;
    case ErrorCode.PayloadTooLarge:
      return 413;
    case ErrorCode.UnsupportedMediaType:
      return 415;
    case ErrorCode.RateLimited:
    case ErrorCode.QuotaExceeded:
    case ErrorCode.ProviderRateLimited:
      return 429;
    case ErrorCode.ProviderError:
    case ErrorCode.AllProvidersFailed:
      return 502;
    case ErrorCode.NoHealthyProvider:
    case ErrorCode.ServiceUnavailable:
    case ErrorCode.ProviderOverloaded:
    case ErrorCode.AllProvidersOverloaded:
    case ErrorCode.GatewayOverloaded:
      return 503;
    case ErrorCode.Timeout:
      return 504;
    case ErrorCode.Internal:
      return 500;
  }
}

export function errorTypeOf(code: ErrorCode): ErrorType {
  switch (code) {
    case ErrorCode.InvalidRequest:
    case ErrorCode.InvalidJson:
    case ErrorCode.UnsupportedCapability:
    case ErrorCode.UnsupportedParameter:
    case ErrorCode.ContextLengthExceeded:
    case ErrorCode.PayloadTooLarge:
    case ErrorCode.UnsupportedMediaType:
    case ErrorCode.MethodNotAllowed:
      return 'invalid_request_error';
    case ErrorCode.InvalidApiKey:
    case ErrorCode.KeyExpired:
      return 'authentication_error';
    case ErrorCode.PermissionDenied:
    case ErrorCode.ModelNotAllowed:
      return 'permission_error';
    case ErrorCode.NotFound:
    case ErrorCode.ModelNotFound:
      return 'not_found_error';
    case ErrorCode.IdempotencyConflict:
    case ErrorCode.Conflict:
    case ErrorCode.ModelUnavailable:
      return 'conflict_error';
    case ErrorCode.RateLimited:
    case ErrorCode.QuotaExceeded:
    case ErrorCode.ProviderRateLimited:
      return 'rate_limit_error';
    case ErrorCode.ProviderError:
    case ErrorCode.AllProvidersFailed:
      return 'provider_error';
    case ErrorCode.NoHealthyProvider:
    case ErrorCode.ServiceUnavailable:
    case ErrorCode.ProviderOverloaded:
    case ErrorCode.AllProvidersOverloaded:
    case ErrorCode.GatewayOverloaded:
      return 'service_unavailable_error';
    case ErrorCode.Timeout:
      return 'timeout_error';
    case ErrorCode.Internal:
      return 'api_error';
  }
}

/** Anthropic's error types, for the Anthropic-compatible entrance (`POST /v1/messages`). */
export type AnthropicErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'request_too_large'
  | 'rate_limit_error'
  | 'api_error'
  | 'overloaded_error'
  | 'timeout_error';

export function anthropicErrorTypeOf(code: ErrorCode): AnthropicErrorType {
  switch (code) {
    case ErrorCode.InvalidRequest:
    case ErrorCode.InvalidJson:
    case ErrorCode.UnsupportedCapability:
    case ErrorCode.UnsupportedParameter:
    case ErrorCode.ContextLengthExceeded:
    case ErrorCode.UnsupportedMediaType:
    case ErrorCode.MethodNotAllowed:
    case ErrorCode.IdempotencyConflict:
    case ErrorCode.Conflict:
    case ErrorCode.ModelUnavailable:
      return 'invalid_request_error';
    case ErrorCode.InvalidApiKey:
    case ErrorCode.KeyExpired:
      return 'authentication_error';
    case ErrorCode.PermissionDenied:
    case ErrorCode.ModelNotAllowed:
      return 'permission_error';
    case ErrorCode.NotFound:
    case ErrorCode.ModelNotFound:
      return 'not_found_error';
    case ErrorCode.PayloadTooLarge:
      return 'request_too_large';
    case ErrorCode.RateLimited:
    case ErrorCode.QuotaExceeded:
    case ErrorCode.ProviderRateLimited:
      return 'rate_limit_error';
    case ErrorCode.NoHealthyProvider:
    case ErrorCode.ServiceUnavailable:
    case ErrorCode.ProviderOverloaded:
    case ErrorCode.AllProvidersOverloaded:
    case ErrorCode.GatewayOverloaded:
      return 'overloaded_error';
    case ErrorCode.Timeout:
      return 'timeout_error';
    case ErrorCode.ProviderError:
    case ErrorCode.AllProvidersFailed:
    case ErrorCode.Internal:
      return 'api_error';
  }
}

/**
 * An error in Anthropic's shape, `{"type": "error", "error": {type, message}}`. The gateway's code and param ride
 * along (Anthropic clients ignore fields they do not know), so nothing the OpenAI envelope says is lost.
 */
export function anthropicErrorBody(body: ErrorBody): {
  type: 'error';
  error: { type: AnthropicErrorType; message: string; code: ErrorCode; param: string | null };
} {
  return {
    type: 'error',
    error: { type: anthropicErrorTypeOf(body.code), message: body.message, code: body.code, param: body.param },
  };
}

/** The wire shape of an error, as it crosses Redis and as the client sees it (`{"error": ...}`). */
export interface ErrorBody {
  message: string;
  type: ErrorType;
  code: ErrorCode;
  param: string | null;
  /** Extra detail for some codes (e.g. the attempts of all_providers_failed). */
  attempts?: import('./domain').Attempt[];
}

/**
 * What a failed generation still cost: a stream cut after it began reaching the client (the provider failed, the
 * client left, the deadline passed) was generated, and providers bill what they generated.
 */
export interface Spent {
  provider: string;
  model: string;
  usage: import('./domain').Usage;
  costUsd: number;
}

/**
 * A provider call that failed and was retried or failed over, but that its provider charged for all the same (a 200
 * that ended with `finish_reason: "error"` and reported the tokens it consumed, `ProviderCallError.charged`), priced
 * as an answer of its deployment would be. `attempt`: the index, in the request's attempts, of the attempt the call
 * was part of (an attempt covers its retries); the charges of one attempt are summed. Billed with the request, once.
 */
export interface Charge extends Spent {
  attempt: number;
}

export interface GatewayErrorOptions {
  param?: string | null;
  retryAfterMs?: number;
  attempts?: import('./domain').Attempt[];
  cause?: unknown;
  spent?: Spent;
  /** Whether the same request sent again may succeed, when its code alone does not say (see `retryHintOf`). */
  retry?: boolean;
}

/**
 * Failures a client's automatic retry of the same request cannot mend, though their status invites one (the OpenAI
 * and Anthropic SDKs retry 409 and every 5xx): a conflict stays a conflict; `all_providers_failed` comes after the
 * gateway's own retries and fallback; `no_healthy_provider` lasts while the breakers are open (its Retry-After,
 * up to a minute, would have the SDK sleep that long without a word).
 */
const NOT_RETRYABLE: ReadonlySet<ErrorCode> = new Set([
  ErrorCode.IdempotencyConflict,
  ErrorCode.Conflict,
  ErrorCode.ModelUnavailable,
  ErrorCode.AllProvidersFailed,
  ErrorCode.NoHealthyProvider,
]);

/**
 * Failures the same request sent again a little later is likely to mend, said outright: every provider lacked room
 * for it (`all_providers_overloaded`). The gateway's own retries and fallback are spent, as for `all_providers_failed`,
 * but capacity comes back; a provider that stays overloaded opens its circuit, and `no_healthy_provider` then tells
 * the SDKs not to retry, so their retries (two by default) do not keep an overloaded fleet busy.
 */
const RETRYABLE: ReadonlySet<ErrorCode> = new Set([ErrorCode.AllProvidersOverloaded]);

/**
 * The `x-should-retry` header's value for an error (the OpenAI and Anthropic SDKs obey it before their own rule by
 * status): the error's own `retry` when set, false or true for the codes above, none otherwise.
 */
export function retryHintOf(err: GatewayError): boolean | undefined {
  if (err.retry !== undefined) {
    return err.retry;
  }
  if (NOT_RETRYABLE.has(err.code)) {
    return false;
  }
  return RETRYABLE.has(err.code) ? true : undefined;
}

/** A failure with a client-facing code. Throw it anywhere; one filter turns it into HTTP. */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly param: string | null;
  readonly retryAfterMs?: number;
  readonly attempts?: import('./domain').Attempt[];
  /** Set in the worker when the failure still cost something (see `Spent`); never sent to clients. */
  readonly spent?: Spent;
  /**
   * Set in the worker (by the attempt loop) when failed calls before the last one were charged for (see `Charge`);
   * never sent to clients.
   */
  charged?: Charge[];
  readonly retry?: boolean;

  constructor(code: ErrorCode, message: string, opts: GatewayErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'GatewayError';
    this.code = code;
    this.param = opts.param ?? null;
    this.retryAfterMs = opts.retryAfterMs;
    this.attempts = opts.attempts;
    if (opts.spent !== undefined) {
      this.spent = opts.spent;
    }
    if (opts.retry !== undefined) {
      this.retry = opts.retry;
    }
  }

  get status(): number {
    return httpStatusOf(this.code);
  }

  toBody(): ErrorBody {
    const body: ErrorBody = { message: this.message, type: errorTypeOf(this.code), code: this.code, param: this.param };
    if (this.attempts) {
      body.attempts = this.attempts;
    }
    return body;
  }

  /**
   * The error a peer sent over Redis (a worker's reply, a stored outcome). During a rolling upgrade the peer may be
   * of a newer release, with codes this one does not know: such an error takes the code of this release that stands
   * for its `type` (see `knownCodeOf`), so the client still gets a well-formed envelope and a status.
   */
  static fromBody(body: ErrorBody, retryAfterMs?: number): GatewayError {
    return new GatewayError(knownCodeOf(body), body.message, {
      param: body.param,
      attempts: body.attempts,
      retryAfterMs,
    });
  }
}

const KNOWN_CODES: ReadonlySet<string> = new Set<string>(Object.values(ErrorCode));

/** The code of this release for each error type, for a code it does not know. */
const CODE_OF_TYPE: Readonly<Record<ErrorType, ErrorCode>> = {
  invalid_request_error: ErrorCode.InvalidRequest,
  authentication_error: ErrorCode.InvalidApiKey,
  permission_error: ErrorCode.PermissionDenied,
  not_found_error: ErrorCode.NotFound,
  conflict_error: ErrorCode.Conflict,
  rate_limit_error: ErrorCode.RateLimited,
  provider_error: ErrorCode.ProviderError,
  timeout_error: ErrorCode.Timeout,
  service_unavailable_error: ErrorCode.ServiceUnavailable,
  api_error: ErrorCode.Internal,
};

/**
 * `body.code` when this release knows it; else the code for the body's `type` (which a newer peer set from its own
 * code), else `provider_error`: the peer that sent it was answering for a provider.
 */
function knownCodeOf(body: ErrorBody): ErrorCode {
  if (KNOWN_CODES.has(body.code)) {
    return body.code;
  }
  return Object.hasOwn(CODE_OF_TYPE, body.type) ? CODE_OF_TYPE[body.type] : ErrorCode.ProviderError;
}

/** A failed provider call, classified. Adapters throw this; routing decides what to do with it. */
export class ProviderCallError extends Error {
  readonly errorClass: ErrorClass;
  readonly status?: number;
  readonly retryAfterMs?: number;
  /**
   * Refused by the adapter before any call: its wire format cannot express the request (an image URL to Ollama, a
   * field Anthropic lacks). The provider never saw it, so another deployment may still serve it.
   */
  readonly untranslatable: boolean;
  /**
   * The provider said it is overloaded (Anthropic's `overloaded_error`, Gemini's `UNAVAILABLE` inside a 200): a stream
   * cut by it says so to the client, and a call it refused counts as refused for capacity, as a 503 does.
   */
  readonly overloaded: boolean;
  /**
   * What the provider charged for before the call failed: the calls of a request the adapter splits (Gemini's
   * `batchEmbedContents`, 100 texts a call) that succeeded before one failed. Such a failure is billed as a cut
   * stream is (`Spent`), and the request is neither retried nor sent elsewhere, which would pay for those parts again.
   * Absent for a call that cost nothing.
   */
  readonly billed?: import('./domain').Usage;
  /**
   * What the provider charged for a call that failed all the same and is retried and failed over like any failure
   * (an answer ended with `finish_reason: "error"` that reported its usage): billed with the request (`Charge`).
   * Absent for a call that cost nothing.
   */
  readonly charged?: import('./domain').Usage;
  /**
   * The request field an `untranslatable` refusal, or a provider's refusal of the request (an invalid request whose
   * answer named the field), is about, in OpenAI's names (`temperature`, `tool_choice`): the `param` of the 400 the
   * client gets. Absent when no one field is.
   */
  readonly param?: string;
  /**
   * The provider's `x-should-retry` (OpenAI and Anthropic send it, and their SDKs obey it before their rule by status):
   * whether calling the same deployment again may succeed, over what the class says (`planRetry`). Absent when it said
   * nothing. The class alone still decides the fallback and what the circuit counts.
   */
  readonly shouldRetry?: boolean;

  constructor(
    errorClass: ErrorClass,
    message: string,
    opts: {
      status?: number;
      retryAfterMs?: number;
      cause?: unknown;
      untranslatable?: boolean;
      overloaded?: boolean;
      billed?: import('./domain').Usage;
      charged?: import('./domain').Usage;
      param?: string;
      shouldRetry?: boolean;
    } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ProviderCallError';
    this.errorClass = errorClass;
    this.status = opts.status;
    this.retryAfterMs = opts.retryAfterMs;
    this.untranslatable = opts.untranslatable === true;
    this.overloaded = opts.overloaded === true;
    if (opts.billed !== undefined) {
      this.billed = opts.billed;
    }
    if (opts.charged !== undefined) {
      this.charged = opts.charged;
    }
    if (opts.param !== undefined) {
      this.param = opts.param;
    }
    if (opts.shouldRetry !== undefined) {
      this.shouldRetry = opts.shouldRetry;
    }
  }
}
