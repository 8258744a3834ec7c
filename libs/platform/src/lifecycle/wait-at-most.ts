/**
 * Waits for `work` for at most `ms`: its value when it settles in time, undefined when the time ran out first (the
 * work goes on, unawaited). Rejects only when `work` rejects in time. The timer is cleared either way, so it never
 * holds the process open.
 */
export function waitAtMost<T>(work: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
