import { CLIENT_GONE_MESSAGE, ErrorCode, GatewayError, type AbortCause, type Attempt, type Spent } from '@aigw/core';
import type { CallerSignal } from '@aigw/adapters';

/** The `reason` of a generation's AbortSignal, so whoever sees the abort knows why it happened. */
export class GenerationAbort extends Error {
  constructor(readonly abortCause: AbortCause) {
    super(`generation aborted: ${abortCause}`);
    this.name = 'GenerationAbort';
  }
}

/** The cause of an aborted signal, or null when it was not aborted by us. */
export function abortCauseOf(signal: CallerSignal): AbortCause | null {
  return signal.aborted && signal.reason instanceof GenerationAbort ? signal.reason.abortCause : null;
}

/**
 * A generation that stopped because it was aborted. The deadline and shutdown are answered (504, 503);
 * a client that went away gets no reply, nobody listens for it.
 */
export class GenerationCancelledError extends GatewayError {
  constructor(
    readonly abortCause: AbortCause,
    attempts: Attempt[],
    cause?: unknown,
    spent?: Spent,
  ) {
    super(...describe(abortCause), {
      attempts,
      cause,
      retryAfterMs: abortCause === 'shutdown' ? 1000 : undefined,
      spent,
    });
    this.name = 'GenerationCancelledError';
  }

  /** Whether the gateway still waits for an answer. */
  get replies(): boolean {
    return this.abortCause !== 'client_disconnected';
  }
}

function describe(cause: AbortCause): [ErrorCode, string] {
  switch (cause) {
    case 'deadline':
      return [ErrorCode.Timeout, 'The request deadline passed before the provider answered.'];
    case 'shutdown':
      return [ErrorCode.ServiceUnavailable, 'The worker shut down before the provider answered; retry the request.'];
    case 'client_disconnected':
      // No code says "cancelled by the client"; nobody reads this answer, it only ends up in the job's stored outcome.
      return [ErrorCode.Timeout, CLIENT_GONE_MESSAGE];
  }
}
