import { ErrorCode, GatewayError, type GenerateOutcome, type GenerationResult } from '@aigw/core';

/** The fields of a stored BullMQ job this gateway reads (a `Job` has them all). */
export interface StoredJob {
  processedOn?: number;
  finishedOn?: number;
  returnvalue: unknown;
  failedReason?: string;
  attemptsMade?: number;
}

/**
 * A generate job as read back from Redis. `failed` means BullMQ's failed state: every attempt's processor
 * threw, which the worker does only for infrastructure reasons (Redis gone until it had to stop); `reason` is
 * the last one, in the worker's own words.
 */
export type JobSnapshot =
  | { state: 'missing' }
  | { state: 'queued' }
  | { state: 'running' }
  | { state: 'completed'; outcome: GenerateOutcome }
  | { state: 'failed'; reason: string; attempts: number };

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

/**
 * `active`: whether the job is in BullMQ's active list (a worker took it and it was not put back). BullMQ keeps the
 * `processedOn` of a job's run when it puts the job back in the queue (its worker died and a stalled check moved it back
 * to wait, or a run failed with attempts left), so only that list tells a running job from one waiting to run again.
 * Undefined: not asked (a started job is then `running`, for reads where queued and running mean the same: wait).
 */
export function snapshotOf(job: StoredJob | undefined | null, active?: boolean): JobSnapshot {
  if (!job) {
    return { state: 'missing' };
  }
  if (job.finishedOn) {
    return isOutcome(job.returnvalue)
      ? { state: 'completed', outcome: job.returnvalue }
      : { state: 'failed', reason: job.failedReason ?? 'unknown', attempts: job.attemptsMade ?? 1 };
  }
  return job.processedOn && active !== false ? { state: 'running' } : { state: 'queued' };
}

/** The options a stored job was enqueued with that say how long it is kept once finished (BullMQ's `opts`). */
export interface KeptFor {
  removeOnComplete?: unknown;
  removeOnFail?: unknown;
}

/**
 * How long a finished job is kept after it finished (s), as it was enqueued: its `removeOnComplete` age, or
 * `removeOnFail`'s once BullMQ failed it; undefined when no age applies (`true` removes the job as it finishes; a
 * number or `count` keeps the last N, whatever their age).
 */
export function retentionOf(snapshot: JobSnapshot, opts: KeptFor | null | undefined): number | undefined {
  const keep: unknown = snapshot.state === 'failed' ? opts?.removeOnFail : opts?.removeOnComplete;
  if (typeof keep !== 'object' || keep === null || !('age' in keep)) {
    return undefined;
  }
  const { age } = keep;
  return typeof age === 'number' ? age : undefined;
}

/**
 * Whether a finished job is past the retention it was enqueued with. BullMQ removes such a job only when a later job
 * of the queue finishes and sweeps the set by its age: on a quiet queue it stays in Redis past its retention, and is
 * read as one of the jobs that are gone. From the stored job alone: no round trip.
 */
export function pastRetention(
  snapshot: JobSnapshot,
  finishedOn: number | undefined,
  opts: KeptFor | null | undefined,
  now: number,
): boolean {
  const ageS = finishedOn ? retentionOf(snapshot, opts) : undefined;
  return finishedOn !== undefined && ageS !== undefined && now - finishedOn >= ageS * 1000;
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
      return { done: true, error: failedJobError(s) };
    case 'missing':
      return { done: true, error: lostJobError() };
  }
}

/**
 * The error of a job found missing, told apart so that a coalesced waiter can release the in-flight marker that
 * still names it (see GenerationService.failed).
 */
export class LostJobError extends GatewayError {}

/** A job Redis no longer holds (it restarted without its data): retryable, the request was not carried out. */
export function lostJobError(): GatewayError {
  return new LostJobError(ErrorCode.ServiceUnavailable, 'The generation job was lost; retry the request.', {
    retryAfterMs: 1_000,
  });
}

/** Longest failure reason shown to a client: the worker's message, never a stack. */
const MAX_REASON_CHARS = 300;

/**
 * The error of a job BullMQ failed: no run of it handed in an outcome, so none may have settled its reservation (see
 * GenerationService.failed).
 */
export class FailedJobError extends GatewayError {}

/** The error of a job whose every attempt failed for an infrastructure reason. */
export function failedJobError(s: { reason: string; attempts: number }): GatewayError {
  const reason = s.reason.split('\n', 1)[0].slice(0, MAX_REASON_CHARS);
  const tries = s.attempts === 1 ? '1 attempt' : `${s.attempts} attempts`;
  return new FailedJobError(ErrorCode.Internal, `The generation failed after ${tries}: ${reason}`);
}
