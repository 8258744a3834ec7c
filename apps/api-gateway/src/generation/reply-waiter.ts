import { ErrorCode, GatewayError, type CancelGenerationMessage, type ReplyMessage, noop } from '@aigw/core';
import type { JobSnapshot } from './job-snapshot';

export type AbandonReason = CancelGenerationMessage['reason'];

export interface WaiterOptions {
  jobId: string;
  /** Epoch ms; past it the waiter answers 504 and abandons the job. */
  deadlineAt: number;
  /** First fallback read of the stored job this long after the job was enqueued, then every `checkEveryMs`. */
  firstCheckMs: number;
  checkEveryMs: number;
  /** Called at most once, when nobody will read the answer any more: cancel the job. */
  onAbandon: (reason: AbandonReason) => void;
}

/**
 * Someone in this process waiting for one job's answer. The ReplyHub feeds it reply-channel messages,
 * snapshots of the stored job (the fallback when a pub/sub message was lost), the deadline and
 * shutdown; the hub keeps its own record of when to read the job back. Every path ends in `finish()`,
 * which releases the hub's hold on it exactly once.
 */
export abstract class ReplyWaiter {
  readonly jobId: string;
  readonly deadlineAt: number;
  readonly firstCheckMs: number;
  readonly checkEveryMs: number;
  /** Ends the hub's watch (ReplyHub gives it when it starts watching). */
  private release: () => void = noop;
  private finished = false;
  /**
   * Set while the job's add is in flight (`holdAbandon`): the job may not exist yet, so a cancel or removal would miss
   * it and it would run for nobody. An abandon meanwhile is kept here and carried out once the add settles.
   */
  private heldAbandon: { reason: AbandonReason | null } | null = null;

  constructor(protected readonly opts: WaiterOptions) {
    this.jobId = opts.jobId;
    this.deadlineAt = opts.deadlineAt;
    this.firstCheckMs = opts.firstCheckMs;
    this.checkEveryMs = opts.checkEveryMs;
  }

  get done(): boolean {
    return this.finished;
  }

  /** Called by the hub as it starts watching: `release` ends that watch, once, when the waiter finishes. */
  watchedBy(release: () => void): void {
    this.release = release;
  }

  /**
   * Whether a message of the job was lost on the way (a stream's gap, chunks before a lost start, another run's
   * start): its final reply may be lost too, so the hub reads a running job back on the fast cadence meanwhile.
   */
  get missedReplies(): boolean {
    return false;
  }

  /**
   * The connection its replies come on closed (a reconnect follows): what was published meanwhile is lost, and when
   * nothing followed it there is no gap to show for it. A stream checks its end against what it relayed.
   */
  repliesMayBeLost(): void {
    // A whole answer comes in one message or one read-back: nothing of it can be lost in part.
  }

  /** The job is being added: an abandon from now on waits for `addSettled` (see `heldAbandon`). */
  holdAbandon(): void {
    this.heldAbandon = { reason: null };
  }

  /**
   * The job's add settled: `stored`, the job exists, and an abandon held meanwhile (the deadline, the client leaving,
   * shutdown) reaches it now (cancelled, removed if no worker took it yet, its reservation given back). Not stored:
   * there is nothing to abandon (the enqueue's own failure path gave the reservation back).
   */
  addSettled(stored: boolean): void {
    const held = this.heldAbandon;
    this.heldAbandon = null;
    if (stored && held !== null && held.reason !== null) {
      this.opts.onAbandon(held.reason);
    }
  }

  /** Abandons the job: at once, or once its add settled when that is still in flight. */
  protected abandonJob(reason: AbandonReason): void {
    if (this.heldAbandon !== null) {
      this.heldAbandon.reason ??= reason;
      return;
    }
    this.opts.onAbandon(reason);
  }

  abstract onReply(msg: ReplyMessage): void;
  abstract onSnapshot(snapshot: JobSnapshot): void;
  /** The client went away: nobody will read the answer. */
  abstract abandon(reason: AbandonReason): void;
  /** Ends the wait with `err` as the answer; true only if this call ended it. */
  protected abstract fail(err: GatewayError): boolean;

  /** The deadline passed: answer 504 and abandon the job. */
  onDeadline(): void {
    if (this.fail(deadlineError())) {
      this.abandonJob('deadline');
    }
  }

  /** The gateway is going away: answer 503 and abandon the job. */
  onShutdown(): void {
    if (this.fail(shutdownError())) {
      this.abandonJob('client_disconnected');
    }
  }

  /**
   * Handing it a reply or a read-back threw (a shape this gateway does not read, from a worker of another version
   * during a rolling upgrade; a defect): this request alone is answered 500 and its job abandoned, as a client that
   * left (what was generated is billed). Should the answer itself throw again, the wait ends all the same.
   */
  broke(): void {
    try {
      if (this.fail(new GatewayError(ErrorCode.Internal, 'The answer could not be delivered; retry the request.'))) {
        this.abandonJob('client_disconnected');
      }
    } catch {
      this.finish();
    }
  }

  /** Drops a waiter whose job never made it into the queue: no answer, no cancel. */
  discard(): void {
    this.finish();
  }

  /** Marks the waiter finished; true only for the first call. */
  protected finish(): boolean {
    if (this.finished) {
      return false;
    }
    this.finished = true;
    this.release();
    return true;
  }
}

export function deadlineError(): GatewayError {
  return new GatewayError(ErrorCode.Timeout, 'The request deadline passed before the answer was complete.');
}

/**
 * The 503 of this gateway's own shutdown (the end of its drain), told apart from a job's 503 (its worker shut down
 * before the provider answered), which a coalesced follower runs again rather than answer (`runsAlone`).
 */
export class GatewayShutdownError extends GatewayError {}

export function shutdownError(): GatewayError {
  return new GatewayShutdownError(ErrorCode.ServiceUnavailable, 'The gateway is shutting down; retry the request.', {
    retryAfterMs: 1_000,
  });
}

/** The answer of a waiter whose client went away (nobody reads it); its usage row says `client_closed_request`. */
export class ClientGoneError extends GatewayError {
  constructor() {
    super(ErrorCode.Timeout, 'The client closed the connection before the answer was complete.');
  }
}

export function clientGoneError(): GatewayError {
  return new ClientGoneError();
}
