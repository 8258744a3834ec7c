import {
  costOf,
  ErrorClass,
  ErrorCode,
  GatewayError,
  type Attempt,
  type Deployment,
  type GenerationRequest,
  type GenerationResult,
  type ProviderCallError,
  type Usage,
} from '@aigw/core';
import type { AdapterTarget } from '@aigw/adapters';
import { GenerationCancelledError, type AbortCause } from '../cancel/abort';

/** What a provider call produced, streamed or not. */
export interface ProviderAnswer {
  id: string;
  /** Epoch seconds. */
  created: number;
  text: string;
  finishReason: string | null;
  usage: Usage;
}

/** Where to send a deployment's calls. Holds the secret: never log it. */
export function targetOf(d: Deployment): AdapterTarget {
  return {
    baseUrl: d.provider.baseUrl,
    apiKey: d.provider.apiKey,
    model: d.model.upstreamName ?? d.model.name,
    timeoutMs: d.provider.timeoutMs,
    poolKey: d.provider.id,
    maxConnections: d.provider.maxConnections,
  };
}

export function successAttempt(d: Deployment, latencyMs: number): Attempt {
  return {
    provider: d.provider.id,
    model: d.model.name,
    route: 'direct',
    ok: true,
    latencyMs: round(latencyMs),
    retries: 0,
  };
}

export function failedAttempt(d: Deployment, err: ProviderCallError, latencyMs: number): Attempt {
  const attempt: Attempt = {
    provider: d.provider.id,
    model: d.model.name,
    route: 'direct',
    ok: false,
    errorClass: err.errorClass,
    message: err.message,
    latencyMs: round(latencyMs),
    retries: 0,
  };
  if (err.status !== undefined) {
    attempt.status = err.status;
  }
  return attempt;
}

/**
 * The client-facing error of a failed provider call. Client mistakes keep the provider's explanation;
 * everything else is the provider's fault (502), with the attempt for the details.
 */
export function failureOf(err: ProviderCallError, attempt: Attempt, abort: AbortCause | null): GatewayError {
  const opts = { attempts: [attempt], cause: err };
  switch (err.errorClass) {
    case ErrorClass.Cancelled:
      // Aborted without one of our reasons: the pool closing under us, i.e. shutdown.
      return new GenerationCancelledError(abort ?? 'shutdown', [attempt], err);
    case ErrorClass.InvalidRequest:
      return new GatewayError(ErrorCode.InvalidRequest, `The provider rejected the request: ${err.message}`, opts);
    case ErrorClass.ContextLength:
      return new GatewayError(
        ErrorCode.ContextLengthExceeded,
        `The request is too long for the model: ${err.message}`,
        opts,
      );
    case ErrorClass.Timeout:
      return new GatewayError(ErrorCode.Timeout, `Provider '${attempt.provider}' did not answer in time.`, opts);
    case ErrorClass.Network:
    case ErrorClass.RateLimit:
    case ErrorClass.Auth:
    case ErrorClass.Provider:
    case ErrorClass.Gateway:
      return new GatewayError(ErrorCode.ProviderError, providerFailureMessage(attempt, err), {
        ...opts,
        retryAfterMs: err.retryAfterMs,
      });
  }
}

function providerFailureMessage(attempt: Attempt, err: ProviderCallError): string {
  const status = err.status === undefined ? '' : `, status ${err.status}`;
  return `Provider '${attempt.provider}' failed (${err.errorClass}${status}).`;
}

export function resultOf(
  request: GenerationRequest,
  d: Deployment,
  answer: ProviderAnswer,
  attempts: Attempt[],
  providerLatencyMs: number,
  now: number,
): GenerationResult {
  return {
    requestId: request.requestId,
    id: answer.id,
    created: answer.created,
    text: answer.text,
    finishReason: answer.finishReason,
    provider: d.provider.id,
    model: d.model.name,
    route: 'direct',
    usage: answer.usage,
    costUsd: costOf(answer.usage, d.model),
    latencyMs: Math.max(0, now - request.receivedAt),
    providerLatencyMs: round(providerLatencyMs),
    attempts,
  };
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
