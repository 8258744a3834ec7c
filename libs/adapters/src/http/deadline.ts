import { ErrorClass, ProviderCallError } from '@aigw/core';
import { classifyError } from '../errors/classify';

/** Node turns a delay it cannot represent (over ~24.8 days, or NaN) into 1 ms: clamp instead of timing out at once. */
const MAX_TIMER_MS = 2_147_483_647;

function timerDelay(ms: number): number {
  if (Number.isNaN(ms) || ms > MAX_TIMER_MS) {
    return MAX_TIMER_MS;
  }
  return Math.max(1, ms);
}

/**
 * The cancellation scope of one provider call: our timeout and the caller's signal folded into one signal for
 * undici. The abort reason is a ready ProviderCallError, so whichever fired first decides the class (Timeout vs
 * Cancelled) no matter which error undici or the body stream then reports.
 */
export class CallDeadline {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private readonly onCallerAbort: () => void;
  private disposed = false;

  constructor(
    private readonly caller: AbortSignal,
    private readonly timeoutMs: number,
  ) {
    this.onCallerAbort = () => {
      this.controller.abort(
        new ProviderCallError(ErrorClass.Cancelled, 'cancelled by the caller', { cause: caller.reason }),
      );
    };
    this.timer = setTimeout(() => {
      this.controller.abort(new ProviderCallError(ErrorClass.Timeout, `upstream timed out after ${this.timeoutMs} ms`));
    }, timerDelay(timeoutMs));
    if (caller.aborted) {
      this.onCallerAbort();
    } else {
      caller.addEventListener('abort', this.onCallerAbort, { once: true });
    }
  }

  /** Aborts the undici request (and its body) when the call must stop. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Restart the timeout: a stream made progress. */
  refresh(): void {
    if (!this.disposed) {
      this.timer.refresh();
    }
  }

  /** Why the call stopped: the abort reason when we aborted it, else the classified error. */
  classify(err: unknown): ProviderCallError {
    const reason: unknown = this.controller.signal.reason;
    if (this.controller.signal.aborted && reason instanceof ProviderCallError) {
      return reason;
    }
    return classifyError(err, this.caller);
  }

  /** Stop the timer and let go of the caller's signal. Idempotent. */
  dispose(): void {
    if (!this.disposed) {
      this.disposed = true;
      clearTimeout(this.timer);
      this.caller.removeEventListener('abort', this.onCallerAbort);
    }
  }
}
