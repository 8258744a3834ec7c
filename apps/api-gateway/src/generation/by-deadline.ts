/** The longest delay a Node timer keeps (~24.8 days); an async job's deadline may lie further away: left unbounded. */
const MAX_TIMER_MS = 2_147_483_647;

/** A Redis call of the request path still unanswered at the request's deadline (see `byDeadline`). */
export class PastDeadline extends Error {
  constructor() {
    super('Redis did not answer before the request deadline');
  }
}

/**
 * `work` (a Redis call made before the request watches a job: admission, the coalescing join) as long as the request
 * may wait for it: past `deadlineAt` it rejects with PastDeadline, and the call's result, should it come later (a
 * half-open network holds a command until it is back: ioredis only gives up after reconnection attempts that fail,
 * and a silent network lets them connect), goes to `late`, which undoes what it did (a reservation, a marker).
 * One timer per call, cleared with its answer; no Redis call.
 */
export function byDeadline<T>(work: Promise<T>, deadlineAt: number, late: (value: T) => void): Promise<T> {
  const left = deadlineAt - Date.now();
  if (left > MAX_TIMER_MS) {
    return work;
  }
  return new Promise<T>((resolve, reject) => {
    let past = false;
    const timer = setTimeout(
      () => {
        past = true;
        reject(new PastDeadline());
      },
      Math.max(0, left),
    );
    work.then(
      (value) => {
        if (past) {
          late(value);
          return;
        }
        clearTimeout(timer);
        resolve(value);
      },
      // A Redis call rejects with an Error.
      (err: Error) => {
        clearTimeout(timer);
        if (!past) {
          reject(err);
        }
      },
    );
  });
}
