/**
 * What a built-in adapter, and the worker's attempt loop, read of the caller's cancellation: an AbortSignal has it,
 * and so has the worker's lighter per-job `CancelSignal`. Only the `abort` event is listened to.
 */
export interface CallerSignal {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/**
 * One generation's cancellation, without an AbortController: in Node 20 an AbortController (an EventTarget) and
 * each listener on its signal cost several times what this does, and every job of the worker makes one while
 * almost none is ever cancelled. A real AbortSignal is made only when something asks for `signal` (a plugin
 * adapter, which the ProviderAdapter contract hands an AbortSignal); it follows this one, already aborted with the
 * same reason when this one was.
 *
 * Listeners run synchronously in the order they were added, as an AbortSignal's do; one that throws does not stop
 * the others, and its error is thrown again on the next tick (an uncaught exception), as an EventTarget reports it.
 */
export class CancelSignal implements CallerSignal {
  aborted = false;
  reason: unknown = undefined;
  /** In the order added; a removed one is left as null, so that a removal during the abort's calls holds. */
  private listeners: ((() => void) | null)[] | null = null;
  private controller: AbortController | null = null;

  /** Aborts with `reason`; a second call does nothing (the first reason stays). */
  abort(reason: unknown): void {
    if (this.aborted) {
      return;
    }
    this.aborted = true;
    this.reason = reason;
    const listeners = this.listeners;
    if (listeners !== null) {
      for (let i = 0; i < listeners.length; i++) {
        const listener = listeners[i];
        if (listener === null) {
          continue;
        }
        listeners[i] = null;
        try {
          listener();
        } catch (err) {
          process.nextTick(() => {
            throw err;
          });
        }
      }
      this.listeners = null;
    }
    this.controller?.abort(reason);
  }

  /** Every listener is called once (whether or not `once` is asked), as an abort happens at most once. */
  addEventListener(_type: 'abort', listener: () => void, _options?: { once?: boolean }): void {
    if (this.aborted) {
      // An AbortSignal does not call a listener added after its abort either.
      return;
    }
    if (this.listeners === null) {
      this.listeners = [listener];
    } else if (!this.listeners.includes(listener)) {
      this.listeners.push(listener);
    }
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const listeners = this.listeners;
    if (listeners !== null) {
      const i = listeners.indexOf(listener);
      if (i >= 0) {
        listeners[i] = null;
      }
    }
  }

  /** A real AbortSignal that aborts with this one (made on first use). */
  get signal(): AbortSignal {
    if (this.controller === null) {
      this.controller = new AbortController();
      if (this.aborted) {
        this.controller.abort(this.reason);
      }
    }
    return this.controller.signal;
  }
}

/** `signal` as a real AbortSignal: itself when it is one, else the one a CancelSignal makes on demand. */
export function abortSignalOf(signal: CallerSignal): AbortSignal {
  if (signal instanceof CancelSignal) {
    return signal.signal;
  }
  if (signal instanceof AbortSignal) {
    return signal;
  }
  // Another implementation of CallerSignal: follow it.
  const controller = new AbortController();
  if (signal.aborted) {
    controller.abort(signal.reason);
  } else {
    signal.addEventListener('abort', () => controller.abort(signal.reason), { once: true });
  }
  return controller.signal;
}
