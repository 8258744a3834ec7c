import { Injectable } from '@nestjs/common';
import { CancelSignal, type CallerSignal } from '@aigw/adapters';
import { MAX_TIMER_MS, type AbortCause } from '@aigw/core';
import { GenerationAbort } from './abort';

/** A cancel may overtake its job (sent while the job still waited); it is remembered this long. */
const EARLY_CANCEL_TTL_MS = 60_000;
const EARLY_CANCEL_MAX = 10_000;

export interface RunningGeneration {
  /** The run's cancellation (a CancelSignal: a real AbortSignal only when a plugin adapter asks for one). */
  readonly signal: CallerSignal;
  /** Must be called when the job ends, whatever the outcome. */
  end(): void;
}

/**
 * The cancellation signals of the generations running in this process, by job id. A cancel message is
 * broadcast to every worker; only the one running the job finds it here.
 */
@Injectable()
export class CancellationRegistry {
  private readonly running = new Map<string, { controller: CancelSignal; requestId: string | undefined }>();
  /**
   * jobId -> expiry of a cancel that arrived before its job started here, and the run it was for (its request id;
   * undefined: any run, as a gateway of an earlier version sends it).
   */
  private readonly early = new Map<string, { until: number; requestId: string | undefined }>();

  /**
   * Registers a job's run (`requestId`: its admission's request id); its signal aborts at `deadlineAt`, on a
   * `cancel` of this job id and run, or on `abortAll`. A cancel remembered for another run of the job id (an
   * Idempotency-Key replay runs a cancelled job's id again) does not abort it.
   */
  begin(jobId: string, deadlineAt: number, requestId?: string): RunningGeneration {
    const controller = new CancelSignal();
    const early = this.early.get(jobId);
    if (early !== undefined) {
      // This id's run starts now: an earlier run of it can no longer start, so the memory is spent either way.
      this.early.delete(jobId);
      if (early.until > Date.now() && sameRun(early.requestId, requestId)) {
        controller.abort(new GenerationAbort('client_disconnected'));
      }
    }
    let timer: NodeJS.Timeout | undefined;
    const arm = (): void => {
      const left = deadlineAt - Date.now();
      if (left <= 0) {
        controller.abort(new GenerationAbort('deadline'));
      } else {
        // An async job's deadline (ASYNC_JOB_RETENTION_S) may lie further away than a timer keeps: re-armed then.
        timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
      }
    };
    if (!controller.aborted) {
      arm();
    }
    const entry = { controller, requestId };
    this.running.set(jobId, entry);
    return {
      signal: controller,
      end: () => {
        clearTimeout(timer);
        if (this.running.get(jobId) === entry) {
          this.running.delete(jobId);
        }
      },
    };
  }

  /**
   * Aborts the job's run if it runs here (`requestId` undefined: whichever run), else remembers the cancel for a
   * while. Returns whether it ran here.
   */
  cancel(jobId: string, cause: Exclude<AbortCause, 'shutdown'>, requestId?: string): boolean {
    const running = this.running.get(jobId);
    if (running && sameRun(requestId, running.requestId)) {
      running.controller.abort(new GenerationAbort(cause));
      return true;
    }
    if (cause === 'client_disconnected' && !running) {
      this.rememberEarly(jobId, requestId);
    }
    return false;
  }

  /** Aborts every running generation (shutdown grace exceeded). Returns how many there were. */
  abortAll(cause: AbortCause): number {
    for (const { controller } of this.running.values()) {
      controller.abort(new GenerationAbort(cause));
    }
    return this.running.size;
  }

  get size(): number {
    return this.running.size;
  }

  private rememberEarly(jobId: string, requestId: string | undefined): void {
    const now = Date.now();
    // Map keeps insertion order: the oldest entries come first, so expired ones are trimmed from the front.
    for (const [id, { until }] of this.early) {
      if (until > now && this.early.size < EARLY_CANCEL_MAX) {
        break;
      }
      this.early.delete(id);
    }
    this.early.set(jobId, { until: now + EARLY_CANCEL_TTL_MS, requestId });
  }
}

/** Whether a cancel for run `cancelled` (undefined: any run) is for run `run` of the same job id. */
function sameRun(cancelled: string | undefined, run: string | undefined): boolean {
  return cancelled === undefined || run === undefined || cancelled === run;
}
