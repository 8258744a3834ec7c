import { ErrorCode, GatewayError, type GenerateOutcome, type GenerationResult } from '@aigw/core';

/** The fields of a stored BullMQ job this gateway reads (a `Job` has them all). */
export interface StoredJob {
  processedOn?: number;
  finishedOn?: number;
  returnvalue: unknown;
  failedReason?: string;
}

/** A generate job as read back from Redis. `failed` means BullMQ's failed state: the processor crashed. */
export type JobSnapshot =
  | { state: 'missing' }
  | { state: 'queued' }
  | { state: 'running' }
  | { state: 'completed'; outcome: GenerateOutcome }
  | { state: 'failed' };

function isOutcome(v: unknown): v is GenerateOutcome {
  if (typeof v !== 'object' || v === null) {
    return false;
  }
  const o = v as { ok?: unknown; result?: unknown; error?: unknown };
  return (
    (o.ok === true && typeof o.result === 'object' && o.result !== null) ||
    (o.ok === false && typeof o.error === 'object' && o.error !== null)
  );
}

export function snapshotOf(job: StoredJob | undefined | null): JobSnapshot {
  if (!job) {
    return { state: 'missing' };
  }
  if (job.finishedOn) {
    return isOutcome(job.returnvalue) ? { state: 'completed', outcome: job.returnvalue } : { state: 'failed' };
  }
  return job.processedOn ? { state: 'running' } : { state: 'queued' };
}

/** What a waiter does with a snapshot: keep waiting, answer, or fail. */
export type Settlement =
  { done: false } | { done: true; result: GenerationResult } | { done: true; error: GatewayError };

const PENDING: Settlement = { done: false };

export function settlementOf(s: JobSnapshot): Settlement {
  switch (s.state) {
    case 'queued':
    case 'running':
      return PENDING;
    case 'completed':
      return s.outcome.ok
        ? { done: true, result: s.outcome.result }
        : { done: true, error: GatewayError.fromBody(s.outcome.error, s.outcome.retryAfterMs) };
    case 'failed':
      // The reason is the worker's internals (a stack, a message): not for clients.
      return { done: true, error: new GatewayError(ErrorCode.Internal, 'The generation failed unexpectedly.') };
    case 'missing':
      return {
        done: true,
        error: new GatewayError(ErrorCode.Internal, 'The generation job was lost; retry the request.'),
      };
  }
}
