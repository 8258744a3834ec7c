import { ErrorClass, MAX_TIMER_MS, ProviderCallError } from '@aigw/core';
import { EventEmitter } from 'node:events';
import { classifyError } from '../errors/classify';
import type { CallerSignal } from './caller-signal';

/** Node turns a delay it cannot represent (over MAX_TIMER_MS, or NaN) into 1 ms: clamp instead of timing out at once. */
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
 *
 * The timeout runs from when the request is written to the provider (`sent`, which HttpPool calls): a call waiting
 * for one of the provider's `maxConnections` is not being slow at the provider, and timing it out there would count
 * against the provider's circuit and retry a request the provider then answers twice. The caller's signal (the
 * request's deadline) bounds that wait, and the pool's connect timeout the connection.
 *
 * It is itself the signal handed to undici, which accepts an EventEmitter with `aborted`/`reason` and an `abort`
 * event: one per call on the hot path, and an AbortController costs several times what an emitter does.
 */
export class CallDeadline extends EventEmitter {
  aborted = false;
  reason: ProviderCallError | undefined;
  private timer: NodeJS.Timeout | null = null;
  private readonly onCallerAbort: () => void;
  private disposed = false;

  constructor(
    private readonly caller: CallerSignal,
    private readonly timeoutMs: number,
  ) {
    super();
    this.onCallerAbort = () => {
      this.abort(new ProviderCallError(ErrorClass.Cancelled, 'cancelled by the caller', { cause: caller.reason }));
    };
    if (caller.aborted) {
      this.onCallerAbort();
    } else {
      caller.addEventListener('abort', this.onCallerAbort, { once: true });
    }
  }

  /** The request is on its way to the provider: the timeout starts. Idempotent. */
  sent(): void {
    if (!this.disposed && !this.aborted && this.timer === null) {
      this.timer = setTimeout(() => {
        this.abort(new ProviderCallError(ErrorClass.Timeout, `upstream timed out after ${this.timeoutMs} ms`));
      }, timerDelay(this.timeoutMs));
    }
  }

  /** Restart the timeout: a stream made progress. */
  refresh(): void {
    if (!this.disposed) {
      this.timer?.refresh();
    }
  }

  /** Why the call stopped: the abort reason when we aborted it, else the classified error (without `apiKey`). */
  classify(err: unknown, apiKey?: string): ProviderCallError {
    return this.reason ?? classifyError(err, this.caller, apiKey);
  }

  /** Stop the timer and let go of the caller's signal. Idempotent. */
  dispose(): void {
    if (!this.disposed) {
      this.disposed = true;
      if (this.timer !== null) {
        clearTimeout(this.timer);
      }
      this.caller.removeEventListener('abort', this.onCallerAbort);
    }
  }

  private abort(reason: ProviderCallError): void {
    if (!this.aborted) {
      this.aborted = true;
      this.reason = reason;
      this.emit('abort');
    }
  }
}
