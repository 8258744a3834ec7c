import {
  ErrorClass,
  ErrorCode,
  GatewayError,
  refusedForCapacity,
  type Attempt,
  type Deployment,
  type ProviderCallError,
  type Spent,
} from '@aigw/core';
import { abortCauseOf, GenerationCancelledError } from '../cancel/abort';
import type { CallerSignal } from '@aigw/adapters';

/*
 * The client-facing errors of a routed request. Messages name providers, classes and statuses, never a
 * provider's body (it may echo the prompt) except for client mistakes, whose explanation the client needs.
 */

/** Aborted by the deadline, the client or shutdown (a call aborted by nobody we know of: the pool closed under it). */
export function cancelledFailure(
  signal: CallerSignal,
  attempts: Attempt[],
  cause?: unknown,
  spent?: Spent,
): GenerationCancelledError {
  return new GenerationCancelledError(abortCauseOf(signal) ?? 'shutdown', attempts, cause, spent);
}

/** The request itself is wrong: it would fail on every provider. The field the provider named is the `param`. */
export function invalidRequestFailure(err: ProviderCallError, attempts: Attempt[]): GatewayError {
  return new GatewayError(ErrorCode.InvalidRequest, `The provider rejected the request: ${err.message}`, {
    attempts,
    cause: err,
    param: err.param,
  });
}

/**
 * Every deployment that could be asked refused the request before sending it: none can express it. The field the
 * refusal is about, when the adapter named one, is the error's `param`.
 */
export function untranslatableFailure(err: ProviderCallError, attempts: Attempt[]): GatewayError {
  return new GatewayError(ErrorCode.InvalidRequest, `No deployment can take the request: ${err.message}`, {
    attempts,
    cause: err,
    param: err.param,
  });
}

/**
 * No deployment with a larger context window was left to try. The field to shorten is named, as OpenAI does (and as
 * routing does when no window fits the estimate): `messages`, or `input` for an embeddings request (`embeddings`).
 */
export function contextLengthFailure(err: ProviderCallError, attempts: Attempt[], embeddings = false): GatewayError {
  return new GatewayError(ErrorCode.ContextLengthExceeded, `The request is too long for the model: ${err.message}`, {
    attempts,
    cause: err,
    param: embeddings ? 'input' : 'messages',
  });
}

/**
 * The answer had started reaching the client: there is no falling back any more. A provider that said it is
 * overloaded is named so (Anthropic clients see its `overloaded_error`), any other failure is a provider error.
 */
export function midStreamFailure(
  d: Deployment,
  err: ProviderCallError,
  attempts: Attempt[],
  spent?: Spent,
  embeddings = false,
): GatewayError {
  // An embeddings request split into calls (Gemini's batches, a deployment's maxEmbeddingInputs) failed after some
  // were charged for. A later call refused for what the client sent is still the client's mistake, said as it would
  // be had it come first (the item it names renumbered to the client's list by the adapter), billed for the rest.
  if (embeddings && err.errorClass === ErrorClass.InvalidRequest) {
    return new GatewayError(ErrorCode.InvalidRequest, `The provider rejected the request: ${err.message}`, {
      attempts,
      cause: err,
      param: err.param,
      spent,
    });
  }
  if (embeddings && err.errorClass === ErrorClass.ContextLength) {
    return new GatewayError(ErrorCode.ContextLengthExceeded, `The request is too long for the model: ${err.message}`, {
      attempts,
      cause: err,
      param: err.param ?? 'input',
      spent,
    });
  }
  const where = embeddings ? 'after embedding part of the input' : 'in the middle of the stream';
  if (err.overloaded) {
    return new GatewayError(
      ErrorCode.ProviderOverloaded,
      `Provider '${d.provider.id}' is overloaded: it stopped ${where}.`,
      { attempts, cause: err, spent },
    );
  }
  return new GatewayError(ErrorCode.ProviderError, `Provider '${d.provider.id}' failed ${where} (${err.errorClass}).`, {
    attempts,
    cause: err,
    spent,
  });
}

function describeAttempt(a: Attempt): string {
  const status = a.status !== undefined ? ` ${a.status}` : a.overloaded === true ? ' overloaded' : '';
  const route = a.route === 'gateway' ? ' via gateway' : '';
  return `${a.provider}/${a.model}${route}: ${a.errorClass ?? 'error'}${status}`;
}

/** Asked of a client when every provider lacked room and none said for how long: the gateway's usual short wait. */
const NO_ROOM_RETRY_AFTER_MS = 1_000;

/**
 * The longest wait asked of a client when every provider lacked room: the SDKs sleep a Retry-After in silence,
 * however long. An overload that lasts opens the circuits, and `no_healthy_provider` answers then.
 */
const MAX_NO_ROOM_RETRY_AFTER_MS = 60_000;

/** What the attempt loop learnt of its failed calls besides their attempts, for the answer (`allProvidersFailed`). */
export interface FailedCalls {
  /**
   * Time left (ms) until the soonest deployment this request tried is called again: the end of the cooldown its
   * latest failure wrote (its provider answered a 429, 503 or 529 with Retry-After, and every worker leaves it alone
   * until then). Undefined when no failure wrote one, or one has already ended (`unnamedWait` then).
   */
  waitMs?: number;
  /**
   * A deployment refused for capacity without naming a wait (a 529 with no Retry-After), or whose wait is over: it may
   * be called again now, so the client is not told to sleep the longer wait another named.
   */
  unnamedWait: boolean;
  /**
   * Attempts whose call never reached the provider: no connection was made, refused, reset, dropped or not made in
   * time (a connect timeout, of class `timeout`; the attempt alone does not tell it from a provider that took its
   * whole timeout to answer nothing). A network-class attempt is one whether listed or not.
   */
  unreached: ReadonlySet<Attempt>;
}

/**
 * Every deployment tried failed. When every call that reached its provider was refused for a rate limit, the answer
 * is a 429 that clients retry after the shortest wait named (as they would a provider's own), not a 502 they are told
 * not to retry. When every such call was refused for capacity otherwise (overloaded, 503), it is a 503 that says to
 * retry, after that wait (a second when none was named, a minute at most). Any other failure among them (a 500, a
 * timeout after the request was sent, a refused key) keeps the 502.
 *
 * `unnamedWait`: the 503 asks for a second (its default) at most, the 429 names no wait (the SDKs' own short backoff,
 * as when no provider named one).
 *
 * A provider that could not be reached (`unreached`: a connection refused, reset, dropped or not made within its
 * connect timeout) weighs neither way: it says nothing of a retry's chances, and the others' answers decide. It is
 * what the answer would be a moment later, once its circuit opened and it was skipped; and a request routed over an
 * unreachable provider and an overloaded one is answered as the overloaded one says, a 503 the SDKs retry, not a 502
 * they are told not to. Unreached providers alone (nothing else said anything) keep the 502.
 *
 * The 502 carries `x-should-retry: false` (retryHintOf), which the OpenAI and Anthropic SDKs obey before their rule by
 * status: they do not retry it, so a Retry-After on it (which openai-node reads, as `retry-after-ms` and
 * `retry-after`, only for a retry it makes) tells them nothing. HTTP defines Retry-After for a 503, a 429 and
 * redirects, not for a 502; a client that reads it anyway takes it as "not before then". So the 502 carries one only
 * for a real, known wait: a cooldown a deployment it tried is held in (every worker leaves that deployment alone until
 * then), its time left (`waitMs`). A provider's Retry-After that set nothing aside (on a 500, say) is not passed on.
 */
export function allProvidersFailed(attempts: Attempt[], cause: unknown, calls: FailedCalls): GatewayError {
  const { waitMs, unnamedWait, unreached } = calls;
  const failed = attempts.filter((a) => !a.ok);
  const detail = failed.map(describeAttempt).join('; ');
  // A deployment without the model (its 404) will not serve a retry either: it weighs neither way, as an unreached one.
  const reached = failed.filter(
    (a) => a.errorClass !== ErrorClass.Network && a.errorClass !== ErrorClass.NotFound && !unreached.has(a),
  );
  if (reached.length > 0 && reached.every((a) => a.errorClass === ErrorClass.RateLimit)) {
    const who = reached.length < failed.length ? 'Every provider reached' : 'Every provider';
    return new GatewayError(ErrorCode.ProviderRateLimited, `${who} rate limited the request (${detail}).`, {
      attempts,
      retryAfterMs: unnamedWait ? undefined : waitMs,
      cause,
    });
  }
  if (reached.length > 0 && reached.every(refusedForCapacity)) {
    const named = waitMs ?? NO_ROOM_RETRY_AFTER_MS;
    const wait = Math.min(unnamedWait ? Math.min(named, NO_ROOM_RETRY_AFTER_MS) : named, MAX_NO_ROOM_RETRY_AFTER_MS);
    return new GatewayError(
      ErrorCode.AllProvidersOverloaded,
      `No provider had room for the request (${detail}): retry shortly.`,
      { attempts, retryAfterMs: wait, cause },
    );
  }
  return new GatewayError(ErrorCode.AllProvidersFailed, `All providers failed (${detail}).`, {
    attempts,
    retryAfterMs: waitMs,
    cause,
  });
}

/**
 * Every deployment tried answered that it does not have the model (class `not_found`: Ollama's model not pulled,
 * Gemini's NOT_FOUND, OpenAI's or LiteLLM's `model_not_found`): the client's 404 `model_not_found`, as the provider said
 * it and as OpenAI and LiteLLM answer it, not a 502 provider failure. The attempts name each deployment's answer.
 */
export function modelNotServed(model: string, attempts: Attempt[], cause: ProviderCallError): GatewayError {
  const detail = attempts
    .filter((a) => !a.ok)
    .map(describeAttempt)
    .join('; ');
  return new GatewayError(ErrorCode.ModelNotFound, `No provider of '${model}' has the model (${detail}).`, {
    param: 'model',
    attempts,
    cause,
  });
}

/** Whether every failed call of the request was a provider's "no such model" (`modelNotServed`). */
export function everyFailureNotFound(attempts: readonly Attempt[]): boolean {
  let any = false;
  for (const a of attempts) {
    if (!a.ok) {
      if (a.errorClass !== ErrorClass.NotFound) {
        return false;
      }
      any = true;
    }
  }
  return any;
}

/** Whether every failed call of the request was a context-length refusal or a provider's "no such model". */
export function everyFailureTooLongOrNotFound(attempts: readonly Attempt[]): boolean {
  return attempts.every(
    (a) => a.ok || a.errorClass === ErrorClass.ContextLength || a.errorClass === ErrorClass.NotFound,
  );
}

/**
 * Every candidate is set aside for the wait its provider asked for (a cooldown: a 429, 503 or 529 with Retry-After,
 * held fleet-wide), and none was called. Answered as the provider's own answer would have been, had it been called
 * again: a 429 when every one of them was rate limited (the SDKs retry it after its Retry-After), else a 503 that
 * says to retry; `retryAfterMs` is the soonest end of a cooldown. Not `no_healthy_provider`: nothing is unhealthy.
 */
export function coolingDown(
  model: string,
  retryAfterMs: number,
  rateLimited: boolean,
  // The calls made to deployments without the model (HeldBack): then it is no refusal without a call (isCoolingDown).
  attempts?: Attempt[],
): GatewayError {
  const error = rateLimited
    ? new GatewayError(
        ErrorCode.ProviderRateLimited,
        `Every provider of '${model}' rate limited it: retry after the wait it asked for.`,
        { retryAfterMs, attempts },
      )
    : new GatewayError(
        ErrorCode.AllProvidersOverloaded,
        `No provider of '${model}' has room for the request: retry after the wait it asked for.`,
        { retryAfterMs: Math.min(retryAfterMs, MAX_NO_ROOM_RETRY_AFTER_MS), attempts },
      );
  if (attempts === undefined) {
    coolingDowns.add(error);
  }
  return error;
}

/**
 * The answer a plan's circuits gave for the deployments it left out (open, cooling down), with the request's
 * attempts: given when every deployment called lacked the model (RoutePlan.heldBack).
 */
export type HeldBack = (attempts: Attempt[]) => GatewayError;

/** The errors `coolingDown` made (the same codes also end attempt loops whose calls failed). */
const coolingDowns = new WeakSet<GatewayError>();

/** Whether `err` is a refusal of `coolingDown`: no call made, every candidate set aside for its provider's wait. */
export function isCoolingDown(err: unknown): err is GatewayError {
  return err instanceof GatewayError && coolingDowns.has(err);
}

/** Every candidate's circuit is open (or its probe slots taken): fail fast instead of hammering a dead fleet. */
export function noHealthyProvider(model: string, retryAfterMs: number, attempts: Attempt[] = []): GatewayError {
  return new GatewayError(ErrorCode.NoHealthyProvider, `No healthy provider is available for '${model}' right now.`, {
    param: 'model',
    retryAfterMs,
    attempts: attempts.length > 0 ? attempts : undefined,
  });
}
