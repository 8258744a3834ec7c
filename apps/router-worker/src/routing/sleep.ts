import type { CallerSignal } from '@aigw/adapters';
/**
 * Waits `ms`, or less when `signal` aborts; never rejects, so the caller decides what an abort means
 * (checking `signal.aborted` afterwards).
 */
export function sleep(ms: number, signal: CallerSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) {
    return Promise.resolve();
  }
  return new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
