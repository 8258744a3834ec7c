import { CLIENT_GONE_MESSAGE, ErrorCode, type ErrorBody } from '@aigw/core';
import type { CancelRecord, GenerateJob, KeptOutcome } from '../generation/generation-queue';
import {
  failedJobError,
  lostJobError,
  pastRetention as pastRetentionOf,
  retentionOf as retentionOfSnapshot,
  snapshotOf,
  type JobSnapshot,
} from '../generation/job-snapshot';
import { generateResponse, storedNativeErrorBody, type GenerateResponse } from './native-mapping';

export type JobState = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';

/** `GET /api/v1/ai/jobs/:id`. */
export interface JobStatusView {
  jobId: string;
  status: JobState;
  result?: GenerateResponse;
  error?: ErrorBody;
  createdAt: string;
  finishedAt?: string;
}

/** The state a client sees of a job read back from Redis (a job gone from Redis was lost: failed). */
export function jobStateOf(snapshot: JobSnapshot): JobState {
  switch (snapshot.state) {
    case 'queued':
    case 'running':
      return snapshot.state;
    case 'completed':
      return snapshot.outcome.ok ? 'completed' : 'failed';
    case 'failed':
    case 'missing':
      return 'failed';
  }
}

/** Whether a finished job is past the retention it was enqueued with (see job-snapshot's `pastRetention`). */
export function pastRetention(job: GenerateJob, now: number): boolean {
  return pastRetentionOf(snapshotOf(job), job.finishedOn, job.opts, now);
}

/** How long a finished job is kept after it finished (s), as it was enqueued; undefined when no age applies. */
export function retentionOf(job: GenerateJob): number | undefined {
  return retentionOfSnapshot(snapshotOf(job), job.opts);
}

/**
 * From the stored job and whether it is active (`active`, read with it: see `GenerationQueue.stored`): a job that ran
 * once and waits to run again (a stall, a retry) is `queued`. `cancel`: its owner cancelled it; a job that then
 * ended in its worker's abort (the client-gone answer) is `cancelled`; one whose answer came first stays `completed`,
 * one that failed otherwise (a provider error, a crash) stays `failed`.
 */
export function jobStatusView(
  jobId: string,
  job: GenerateJob,
  cancel: CancelRecord | null = null,
  active?: boolean,
): JobStatusView {
  const snapshot = snapshotOf(job, active);
  const view: JobStatusView = { jobId, status: jobStateOf(snapshot), createdAt: new Date(job.timestamp).toISOString() };
  if (job.finishedOn) {
    view.finishedAt = new Date(job.finishedOn).toISOString();
  }
  if (cancel !== null && endedClientGone(snapshot)) {
    view.status = 'cancelled';
    return view;
  }
  switch (snapshot.state) {
    case 'queued':
    case 'running':
      return view;
    case 'completed':
      if (snapshot.outcome.ok) {
        // As `generate` would have answered the request that made the job: its x-request-id (the client's own).
        const { result } = snapshot.outcome;
        view.result = generateResponse(result, job.data.request.clientRequestId ?? result.requestId);
      } else {
        view.error = snapshot.outcome.error;
      }
      break;
    case 'failed':
      view.error = failedJobError(snapshot).toBody();
      break;
    case 'missing':
      view.error = lostJobError().toBody();
      break;
  }
  if (view.error !== undefined) {
    view.error = storedNativeErrorBody(view.error, job.data);
  }
  return view;
}

/** A job its owner cancelled before any worker took it: removed from the queue, only its cancel record is left. */
export function cancelledJobView(jobId: string, cancel: CancelRecord): JobStatusView {
  return {
    jobId,
    status: 'cancelled',
    createdAt: new Date(cancel.createdAt).toISOString(),
    finishedAt: new Date(cancel.cancelledAt).toISOString(),
  };
}

/** A completed sync job from the outcome its worker kept (BullMQ no longer has it). */
export function keptJobView(jobId: string, kept: KeptOutcome): JobStatusView {
  const view: JobStatusView = { jobId, status: 'completed', createdAt: new Date(kept.receivedAt).toISOString() };
  if (kept.ok) {
    view.result = generateResponse(kept.result);
  } else {
    view.status = 'failed';
    // As `generate` answered it: naming the body's field (the outcome carries the job's native fields on a failure).
    view.error = storedNativeErrorBody(kept.error, kept);
  }
  return view;
}

/**
 * Whether the job ended with the answer a worker stores for a generation it aborted because its client left (or its
 * owner cancelled it): only then does its cancel record decide how it reads. Told by the cause the worker stored.
 */
export function endedClientGone(snapshot: JobSnapshot): boolean {
  if (snapshot.state !== 'completed' || snapshot.outcome.ok) {
    return false;
  }
  const { error, abortCause } = snapshot.outcome;
  if (abortCause !== undefined) {
    return abortCause === 'client_disconnected';
  }
  // Rolling upgrade: an outcome of a worker older than `abortCause` says it only in its words. Remove this fallback
  // (and CLIENT_GONE_MESSAGE's import) only once the last such worker stopped more than ASYNC_JOB_RETENTION_S (up to
  // 30 days) plus a request deadline ago: until then a job it ended may still be read, and would show `failed`.
  return error.code === ErrorCode.Timeout && error.message === CLIENT_GONE_MESSAGE;
}
