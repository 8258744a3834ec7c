import { Injectable } from '@nestjs/common';
import { GenerationAbort, type AbortCause } from './abort';

/** A cancel may overtake its job (sent while the job still waited); it is remembered this long. */
const EARLY_CANCEL_TTL_MS = 60_000;
const EARLY_CANCEL_MAX = 10_000;
/**
 * The longest delay a Node timer keeps (~24.8 days); a longer one fires after 1 ms. An async job's deadline is
 * `ASYNC_JOB_RETENTION_S` away, which an operator may set longer than that: its timer is re-armed instead.
 */
const MAX_TIMER_MS = 2_147_483_647;

export interface RunningGeneration {
  readonly signal: AbortSignal;
  /** Must be called when the job ends, whatever the outcome. */
  end(): void;
}

/**
 * The AbortControllers of the generations running in this process, by job id. A cancel message is
 * broadcast to every worker; only the one running the job finds it here.
 */
@Injectable()
export class CancellationRegistry {
  private readonly running = new Map<string, AbortController>();
  /** jobId -> expiry of a cancel that arrived before its job started here. */
  private readonly early = new Map<string, number>();

  /** Registers a job; its signal aborts at `deadlineAt`, on `cancel(jobId)` or on `abortAll`. */
  begin(jobId: string, deadlineAt: number): RunningGeneration {
    const controller = new AbortController();
    const earlyUntil = this.early.get(jobId);
    if (earlyUntil !== undefined) {
      this.early.delete(jobId);
      if (earlyUntil > Date.now()) {
        controller.abort(new GenerationAbort('client_disconnected'));
      }
    }
    let timer: NodeJS.Timeout | undefined;
    const arm = (): void => {
      const left = deadlineAt - Date.now();
      if (left <= 0) {
        controller.abort(new GenerationAbort('deadline'));
      } else {
        timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
      }
    };
    if (!controller.signal.aborted) {
      arm();
    }
    this.running.set(jobId, controller);
    return {
      signal: controller.signal,
      end: () => {
        clearTimeout(timer);
        if (this.running.get(jobId) === controller) {
          this.running.delete(jobId);
        }
      },
    };
  }

  /** Aborts the job if it runs here, else remembers the cancel for a while. Returns whether it ran here. */
  cancel(jobId: string, cause: Exclude<AbortCause, 'shutdown'>): boolean {
    const controller = this.running.get(jobId);
    if (controller) {
      controller.abort(new GenerationAbort(cause));
      return true;
    }
    if (cause === 'client_disconnected') {
      this.rememberEarly(jobId);
    }
    return false;
  }

  /** Aborts every running generation (shutdown grace exceeded). Returns how many there were. */
  abortAll(cause: AbortCause): number {
    for (const controller of this.running.values()) {
      controller.abort(new GenerationAbort(cause));
    }
    return this.running.size;
  }

  get size(): number {
    return this.running.size;
  }

  private rememberEarly(jobId: string): void {
    const now = Date.now();
    // Map keeps insertion order: the oldest entries come first, so expired ones are trimmed from the front.
    for (const [id, until] of this.early) {
      if (until > now && this.early.size < EARLY_CANCEL_MAX) {
        break;
      }
      this.early.delete(id);
    }
    this.early.set(jobId, now + EARLY_CANCEL_TTL_MS);
  }
}
