import {
  type Attempt,
  type Charge,
  CLIENT_CLOSED_REQUEST,
  ErrorCode,
  type FailedAttempt,
  type GatewayError,
  type GenerateOutcome,
  type GenerationRequest,
  type GenerationResult,
  type UsageEvent,
  usageRecordOf,
} from '@aigw/core';
import { GenerationCancelledError } from '../cancel/abort';

/** How a generation ended, before it is turned into a reply, an outcome and a usage event. */
export type Finished = { ok: true; result: GenerationResult } | { ok: false; error: GatewayError };

export function outcomeOf(finished: Finished): GenerateOutcome {
  if (finished.ok) {
    return { ok: true, result: finished.result };
  }
  const { error } = finished;
  // On every failure, null included: a gateway reads an outcome without it as one of an older worker.
  const abortCause = error instanceof GenerationCancelledError ? error.abortCause : null;
  return error.retryAfterMs === undefined
    ? { ok: false, error: error.toBody(), abortCause }
    : { ok: false, error: error.toBody(), retryAfterMs: error.retryAfterMs, abortCause };
}

/** The usage record of a finished request: success, failure or cancellation alike. */
export function usageEventOf(request: GenerationRequest, finished: Finished, now: number): UsageEvent {
  if (finished.ok) {
    const { result } = finished;
    const event = usageRecordOf(request, {
      provider: result.provider,
      model: result.model,
      promptTokens: result.usage.promptTokens,
      completionTokens: result.usage.completionTokens,
      cachedTokens: result.usage.cachedPromptTokens,
      costUsd: result.costUsd,
      latencyMs: Math.round(result.latencyMs),
      providerLatencyMs: Math.round(result.providerLatencyMs),
      cached: false,
      status: 'success',
      errorClass: null,
      errorCode: null,
      attempts: result.attempts.length,
      failedAttempts: failedBefore(result.attempts),
    });
    return result.charged === undefined ? event : withCharges(event, result.attempts, result.charged);
  }
  const { error } = finished;
  const attempts = error.attempts ?? [];
  const last = attempts.at(-1);
  // A failure costs nothing, unless it cut a stream the client was already reading: that much was generated.
  const spent = error.spent;
  const event = usageRecordOf(request, {
    provider: spent?.provider ?? last?.provider ?? null,
    model: spent?.model ?? last?.model ?? null,
    promptTokens: spent?.usage.promptTokens ?? 0,
    completionTokens: spent?.usage.completionTokens ?? 0,
    cachedTokens: spent?.usage.cachedPromptTokens ?? 0,
    costUsd: spent?.costUsd ?? 0,
    latencyMs: Math.max(0, Math.round(now - request.receivedAt)),
    cached: false,
    status: 'error',
    errorClass: error instanceof GenerationCancelledError ? 'cancelled' : (last?.errorClass ?? null),
    errorCode: errorCodeOf(error),
    attempts: attempts.length,
    failedAttempts: failedBefore(attempts),
  });
  return error.charged === undefined ? event : withCharges(event, attempts, error.charged);
}

/**
 * Adds what failed calls were charged for (rare) to the event, each where its deployment's usage is: the calls of the
 * last attempt (retries of the deployment that answered, or that the request failed on) to the request's own counts,
 * those of an earlier attempt to that attempt's row. Each charge is counted once, beside the answer's own usage.
 */
function withCharges(event: UsageEvent, attempts: readonly Attempt[], charges: readonly Charge[]): UsageEvent {
  for (const c of charges) {
    // failedBefore lists the failed attempts before the last, in order: this one's place among them.
    let index = 0;
    for (let i = 0; i < c.attempt; i++) {
      index += attempts[i].ok ? 0 : 1;
    }
    const failed = c.attempt < attempts.length - 1 ? event.failedAttempts?.[index] : undefined;
    if (failed === undefined) {
      // The last attempt's: the request's own row is that deployment's.
      event.promptTokens += c.usage.promptTokens;
      event.completionTokens += c.usage.completionTokens;
      event.cachedTokens += c.usage.cachedPromptTokens;
      event.costUsd += c.costUsd;
      continue;
    }
    failed.charged = {
      promptTokens: c.usage.promptTokens,
      completionTokens: c.usage.completionTokens,
      cachedTokens: c.usage.cachedPromptTokens,
      costUsd: c.costUsd,
    };
  }
  return event;
}

/**
 * What a request's usage event bills, for its settlement against the reservation: its own tokens and cost, and those
 * of failed attempts their provider charged for (absent from nearly every event: one comparison).
 */
export function billedOf(usage: UsageEvent): { tokens: number; costUsd: number } {
  let tokens = usage.promptTokens + usage.completionTokens;
  let costUsd = usage.costUsd;
  for (const a of usage.failedAttempts ?? []) {
    if (a.charged !== undefined) {
      tokens += a.charged.promptTokens + a.charged.completionTokens;
      costUsd += a.charged.costUsd;
    }
  }
  return { tokens, costUsd };
}

/**
 * The failed attempts before the last one (the last is the event's own: the answer, or the failure it reports), so
 * that a deployment that failed before a fallback answered still counts against it. Undefined when there are none,
 * which keeps the usual event as small as before.
 */
function failedBefore(attempts: readonly Attempt[]): FailedAttempt[] | undefined {
  let failed: FailedAttempt[] | undefined;
  for (let i = 0; i < attempts.length - 1; i++) {
    const a = attempts[i];
    if (!a.ok) {
      (failed ??= []).push({
        provider: a.provider,
        model: a.model,
        errorClass: a.errorClass ?? null,
        latencyMs: Math.round(a.latencyMs),
      });
    }
  }
  return failed;
}

/**
 * The `aigw_requests_total` labels of a finished request, from its usage event (usageEventOf), as the gateway sets
 * them: the deployment that answered, or `none` and the error code. From the event, so that an answer kept in Redis
 * (AnswerStash) is labelled as the run that obtained it would have.
 */
export function requestLabelsOf(usage: UsageEvent): { provider: string; model: string; status: string } {
  return usage.status === 'success'
    ? { provider: usage.provider ?? 'none', model: usage.model ?? 'none', status: 'success' }
    : { provider: 'none', model: 'none', status: usage.errorCode ?? ErrorCode.Internal };
}

function errorCodeOf(error: GatewayError): string {
  return error instanceof GenerationCancelledError && error.abortCause === 'client_disconnected'
    ? CLIENT_CLOSED_REQUEST
    : error.code;
}
