export interface WaitForOptions {
  /** Give up after this long (default 5000 ms). */
  timeoutMs?: number;
  /** Pause between attempts (default 20 ms). */
  intervalMs?: number;
  /** Message of the error thrown on timeout. */
  message?: string;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Calls `fn` until it returns a truthy value and resolves with it. A call that throws counts as
 * "not yet"; on timeout the last such error is attached as the cause.
 */
export async function waitFor<T>(fn: () => T | Promise<T>, opts: WaitForOptions = {}): Promise<NonNullable<T>> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const intervalMs = opts.intervalMs ?? 20;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value) {
        return value;
      }
    } catch (err) {
      lastError = err;
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      const message = opts.message ?? `waitFor: condition not met within ${timeoutMs} ms`;
      throw lastError === undefined ? new Error(message) : new Error(message, { cause: lastError });
    }
    await sleep(Math.min(intervalMs, left));
  }
}
