import { Inject, Injectable } from '@nestjs/common';
import { ErrorCode, GatewayError, noop } from '@aigw/core';
import { ENV, ShutdownState } from '@aigw/platform';
import { AdmissionService } from '../admission/admission.service';
import { GatewayEnv } from '../config/gateway-env';
import { byDeadline, PastDeadline } from '../generation/by-deadline';
import { CancellationService } from '../generation/cancellation.service';
import { GatewayMetrics } from '../generation/gateway-metrics';
import {
  FAILED_RETENTION_S,
  GenerationQueue,
  type CancelRecord,
  type GenerateJob,
  type KeptOutcome,
} from '../generation/generation-queue';
import type { AuthContext } from '../http/request-context';
import { snapshotOf } from '../generation/job-snapshot';
import {
  cancelledJobView,
  endedClientGone,
  jobStatusView,
  keptJobView,
  pastRetention,
  retentionOf,
  type JobStatusView,
} from './job-status';

/** Job ids this gateway mints (`req_…`, `idem_…`); anything else cannot exist, so no lookup for it. */
const JOB_ID = /^[A-Za-z0-9_.-]{1,200}$/;

/** How long a cancel waits for the worker running the job to stop it (a worker stops within a second). */
const STOP_WAIT_MS = 3_000;
const STOP_POLL_MS = 100;

/** `active`: whether the stored job is in BullMQ's active list (see `GenerationQueue.stored`). */
type Found =
  { job: GenerateJob; active: boolean; cancel: CancelRecord | null } | { kept: KeptOutcome } | { cancel: CancelRecord };

@Injectable()
export class JobsService {
  constructor(
    @Inject(ENV) private readonly env: GatewayEnv,
    private readonly queue: GenerationQueue,
    private readonly cancellation: CancellationService,
    private readonly admission: AdmissionService,
    private readonly metrics: GatewayMetrics,
    private readonly shutdown: ShutdownState,
  ) {}

  /**
   * 404 for unknown jobs and for other keys' jobs alike, the same user's other keys' too (admins see all): ids do not
   * leak existence, and a job is its key's (README, "Jobs belong to the key that made them"). A job past its
   * retention (ASYNC_JOB_RETENTION_S; FAILED_RETENTION_S for one BullMQ failed) is unknown too, and removed as BullMQ's
   * next sweep would have removed it; its owner's 404 says it expired (while Redis still has it: an id swept away
   * cannot be told from an unknown one, whose 404 names the retentions).
   */
  status(jobId: string, auth: AuthContext, receivedAt: number): Promise<JobStatusView> {
    return this.inTime(this.statusOf(jobId, auth), receivedAt, 'Jobs cannot be read right now; retry shortly.');
  }

  /**
   * `POST /api/v1/ai/jobs/:id/cancel`, by the job's owner (or an admin); 404 as `status` answers it. A queued job is
   * removed from the queue (BullMQ refuses while a worker holds its lock: then it runs) and its admission reservation
   * given back; a running one is aborted by its worker as a job whose client left is (what was generated is billed).
   * A finished job is a 409; a cancelled one answers its state again.
   */
  cancel(jobId: string, auth: AuthContext, receivedAt: number): Promise<JobStatusView> {
    return this.inTime(this.cancelOf(jobId, auth), receivedAt, 'Jobs cannot be cancelled right now; retry shortly.');
  }

  /**
   * A read or cancel of a job, answered by REQUEST_TIMEOUT_MS from the request's receipt (`receivedAt`) at the latest:
   * a Redis that holds its commands (a silent network; ioredis keeps them until it gives up) answers 503 with
   * Retry-After then, or at the end of the shutdown drain if that comes first (the 503 of requests waiting for a job:
   * the HTTP server's close would otherwise wait for it). What it does later stands: a read changes nothing a second
   * one would not, and a cancel is carried out once whoever asks again (its record keeps the first cancel, the
   * settlement marker the refund). One timer per request; no Redis call.
   */
  private async inTime(work: Promise<JobStatusView>, receivedAt: number, message: string): Promise<JobStatusView> {
    try {
      return await byDeadline(work, receivedAt + this.env.REQUEST_TIMEOUT_MS, noop, this.shutdown);
    } catch (err) {
      throw err instanceof PastDeadline ? unavailable(message, err) : err;
    }
  }

  private async statusOf(jobId: string, auth: AuthContext): Promise<JobStatusView> {
    const found = await this.find(jobId, auth);
    if (!('job' in found) && 'cancel' in found) {
      await this.refundOwed(jobId, found.cancel);
    } else if ('job' in found && snapshotOf(found.job).state === 'failed') {
      await this.refundFailed(found.job);
    }
    return viewOf(jobId, found);
  }

  /**
   * A job BullMQ failed (every run's processor threw, or its stalls ran out) handed in no outcome and may have settled
   * nothing: its reservation is given back when it is read, once (the settlement's marker, a no-op when a run settled
   * it), and not past its deadline, which the marker outlives by a minute only. One script call per read of such a
   * job; none for any other.
   */
  private async refundFailed(job: GenerateJob): Promise<void> {
    const request = job.data.request;
    if (request.reservation !== undefined && Date.now() < request.deadlineAt) {
      await this.admission.refundOnce(request);
    }
  }

  private async cancelOf(jobId: string, auth: AuthContext): Promise<JobStatusView> {
    const found = await this.find(jobId, auth);
    const view = viewOf(jobId, found);
    if (view.status === 'cancelled') {
      if (!('job' in found) && 'cancel' in found) {
        // Removed by an earlier cancel whose refund failed: given back now (settled once per run, whoever asks).
        await this.refundOwed(jobId, found.cancel);
      }
      return view;
    }
    if (!('job' in found) || (view.status !== 'queued' && view.status !== 'running')) {
      throw new GatewayError(
        ErrorCode.Conflict,
        `The job is already ${view.status}; only a queued or running job can be cancelled.`,
        {
          param: 'id',
        },
      );
    }
    const { job } = found;
    if (job.data.replyTo !== null) {
      // A request waiting for its answer (sync, streamed) is cancelled by closing its connection.
      throw new GatewayError(
        ErrorCode.Conflict,
        'This job answers a request still waiting for it; close that request to cancel it.',
        { param: 'id' },
      );
    }
    const request = job.data.request;
    const { reservation, requestId, deadlineAt, receivedAt } = request;
    const record: CancelRecord = {
      userId: request.userId,
      apiKeyId: request.apiKeyId,
      requestId,
      createdAt: job.timestamp,
      cancelledAt: Date.now(),
      // Stored before the removal below deletes the job, its only other copy: a refund that fails is retried.
      ...(reservation === undefined ? {} : { refund: { reservation, requestId, deadlineAt, receivedAt } }),
    };
    try {
      // As long as the job may stay readable: it may end as late as its deadline, then is kept its retention.
      const ttlS = this.env.ASYNC_JOB_RETENTION_S + Math.max(0, deadlineAt - Date.now()) / 1000;
      const kept = await this.queue.recordCancel(jobId, record, ttlS);
      if (await this.cancellation.stop(jobId, request.requestId)) {
        // Removed before any worker took it: nobody else settles its reservation, nor counts its request. (Held by a
        // worker at an earlier cancel of this run, it waited to be run again since: its record is now all that is left
        // of it.)
        this.metrics.asyncCancelled();
        const removed = kept.held === true ? await this.queue.held(jobId, kept, false) : kept;
        return cancelledJobView(jobId, await this.refundOwed(jobId, removed));
      }
      return await this.stopped(jobId, kept);
    } catch (err) {
      throw unavailable('Jobs cannot be cancelled right now; retry shortly.', err);
    }
  }

  /**
   * Gives back the reservation a cancel record still owes (its job was removed from the queue before any worker took
   * it, and the refund failed or is not done yet); drops it from the record once given back. Not past the run's
   * deadline: the settlement marker that makes a second refund a no-op lives a minute past it. Best effort.
   */
  private async refundOwed(jobId: string, cancel: CancelRecord): Promise<CancelRecord> {
    const owed = cancel.refund;
    if (owed === undefined || Date.now() >= owed.deadlineAt || !(await this.admission.refundOnce(owed, true))) {
      return cancel;
    }
    return this.queue.refunded(jobId, cancel).catch(() => cancel);
  }

  /**
   * The job once its worker stopped it, or as it stands after STOP_WAIT_MS (still `running`: the stop was requested;
   * a later cancel asks again). Polled by its state alone (`snapshot`: no request body read back), the full job read
   * once at the end. The cancel message goes out again on each poll: one lost message does not let the job run on to
   * its answer (and bill it).
   */
  private async stopped(jobId: string, cancel: CancelRecord): Promise<JobStatusView> {
    const until = Date.now() + STOP_WAIT_MS;
    for (;;) {
      const { state } = await this.queue.snapshot(jobId);
      if ((state !== 'queued' && state !== 'running') || Date.now() >= until) {
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, STOP_POLL_MS));
      this.cancellation.resend(jobId, cancel.requestId);
    }
    const stored = await this.queue.stored(jobId);
    if (stored === undefined) {
      // Gone: removed meanwhile (another cancel got it out of the queue first).
      return cancelledJobView(jobId, cancel);
    }
    const { job, active } = stored;
    const ours = cancel.requestId === job.data.request.requestId;
    const snapshot = snapshotOf(job);
    if (ours && (snapshot.state === 'completed' || snapshot.state === 'failed') && !endedClientGone(snapshot)) {
      // Its answer (or failure) came before the stop: the job reads as it ended, so must its record once it is swept.
      await this.queue.dropCancel(jobId, cancel.requestId).catch(() => undefined);
    } else if (ours && cancel.held !== true) {
      // A worker holds it, or held it and stopped it, or gave up waiting for it (its worker may have died, and the job
      // may yet end in its answer on another): however it ends, the record must not stand for it once BullMQ swept
      // it. Noted once the job is seen still there (one removed by another cancel meanwhile is its record alone).
      await this.queue.held(jobId, cancel, true).catch(() => undefined);
    }
    return jobStatusView(jobId, job, ours ? cancel : null, active);
  }

  private notFound(): GatewayError {
    return notFound(this.env.ASYNC_JOB_RETENTION_S);
  }

  /** The caller's job as stored, kept or cancelled; 404 otherwise. */
  private async find(jobId: string, auth: AuthContext): Promise<Found> {
    const found = JOB_ID.test(jobId) ? await this.read(jobId) : undefined;
    const owned = found !== undefined && ownedBy(ownerOf(found), auth);
    if (found !== undefined && 'job' in found && pastRetention(found.job, Date.now())) {
      // Best effort, off the answer: a job that stays is swept later, and still reads as gone.
      found.job.remove().catch(() => undefined);
      throw owned ? expired(found.job) : this.notFound();
    }
    if (!owned) {
      throw this.notFound();
    }
    return found;
  }

  /**
   * The stored job, else (a sync job leaves BullMQ as it completes) the outcome the worker keeps for it until its
   * request's deadline: a streamed answer's cost is read here once the stream ended. Else the record of an async job
   * cancelled while queued (removed from the queue).
   */
  private async read(jobId: string): Promise<Found | undefined> {
    try {
      const stored = await this.queue.stored(jobId);
      if (stored !== undefined) {
        const { job, active } = stored;
        // The cancel record only decides how a job its worker aborted reads (most jobs were never cancelled). One of
        // an earlier run under this id (an Idempotency-Key replay ran the cancelled job again) is not this run's.
        const cancel = endedClientGone(snapshotOf(job)) ? await this.queue.cancelRecord(jobId) : null;
        return { job, active, cancel: cancel?.requestId === job.data.request.requestId ? cancel : null };
      }
      const kept = await this.queue.kept(jobId);
      if (kept !== null) {
        return { kept };
      }
      // Only a job removed while queued is its record alone; one a worker held was swept (past its retention).
      const cancel = await this.queue.cancelRecord(jobId);
      return cancel !== null && cancel.held !== true ? { cancel } : undefined;
    } catch (err) {
      throw unavailable('Jobs cannot be read right now; retry shortly.', err);
    }
  }
}

/** Whose a found job is: its user and the API key that made it (absent where a record older than the key's field). */
function ownerOf(found: Found): { userId: string; apiKeyId?: string } {
  if ('job' in found) {
    return found.job.data.request;
  }
  return 'kept' in found ? found.kept : found.cancel;
}

/**
 * A job is read and cancelled by the key that made it, or an admin: a user's keys may be restricted to different
 * models (a job names its model and holds its prompt and answer), and Idempotency-Key jobs are scoped by key too.
 * A kept outcome or cancel record written before they named their key (an older worker or gateway; they live
 * minutes to ASYNC_JOB_RETENTION_S) is its user's unrestricted keys'; never a restricted key's.
 */
function ownedBy(owner: { userId: string; apiKeyId?: string }, auth: AuthContext): boolean {
  if (auth.role === 'admin') {
    return true;
  }
  if (owner.userId !== auth.userId) {
    return false;
  }
  return owner.apiKeyId === undefined ? auth.policy.allowedModels === null : owner.apiKeyId === auth.apiKeyId;
}

function viewOf(jobId: string, found: Found): JobStatusView {
  return 'job' in found
    ? jobStatusView(jobId, found.job, found.cancel, found.active)
    : 'kept' in found
      ? keptJobView(jobId, found.kept)
      : cancelledJobView(jobId, found.cancel);
}

function unavailable(message: string, cause: unknown): GatewayError {
  return cause instanceof GatewayError
    ? cause
    : new GatewayError(ErrorCode.ServiceUnavailable, message, { retryAfterMs: 1_000, cause });
}

/** An unknown job, another key's, or one past its retention that Redis no longer holds: one answer for all. */
function notFound(asyncRetentionS: number): GatewayError {
  return new GatewayError(
    ErrorCode.NotFound,
    `No job with this id. A job is readable ${asyncRetentionS} s after it finished (ASYNC_JOB_RETENTION_S), ` +
      `${FAILED_RETENTION_S} s after it failed in the queue; then it reads as unknown.`,
    { param: 'id' },
  );
}

/** The caller's own job, still in Redis but past its retention. */
function expired(job: GenerateJob): GatewayError {
  const failed = snapshotOf(job).state === 'failed';
  const keptS = retentionOf(job) ?? 0;
  const at = new Date(job.finishedOn ?? 0).toISOString();
  return new GatewayError(
    ErrorCode.NotFound,
    `The job expired: it ${failed ? 'failed in the queue' : 'finished'} at ${at} and is kept ${keptS} s after that.`,
    { param: 'id' },
  );
}
