import { MAX_TIMER_MS, noop } from '@aigw/core';
import { shutdownError } from './reply-waiter';

/** A Redis call of the request path still unanswered at the request's deadline (see `byDeadline`). */
export class PastDeadline extends Error {
  constructor() {
    super('Redis did not answer before the request deadline');
  }
}

/** Where a request learns that the shutdown drain ended (ShutdownState). */
export interface DrainEnd {
  untilDrainEnd(end: () => void): () => void;
}

/**
 * When the HTTP request must have its answer: its deadline, or for an async submission (whose deadline is its job's
 * retention, no bound for the request that submits it) REQUEST_TIMEOUT_MS from its arrival. What `boundedByAnswer`
 * bounds a request's Redis calls by.
 */
export function answerBy(request: { receivedAt: number; deadlineAt: number }, requestTimeoutMs: number): number {
  return Math.min(request.deadlineAt, request.receivedAt + requestTimeoutMs);
}

/**
 * `work` (a Redis call made before the request watches a job: admission, the coalescing join) as long as the request
 * may wait for it: past `deadlineAt` it rejects with PastDeadline, and the call's result, should it come later (a
 * half-open network holds a command until it is back: ioredis only gives up after reconnection attempts that fail,
 * and a silent network lets them connect), goes to `late`, which undoes what it did (a reservation, a marker).
 * With `drain`, the end of the shutdown drain (ReplyHub's fail-all) ends the wait as the deadline does, with the 503
 * those waiting for a job get then (`shutdownError`; what comes later goes to `late` too). One timer and one Set
 * entry per call, cleared with its answer; no Redis call.
 */
export function byDeadline<T>(
  work: Promise<T>,
  deadlineAt: number,
  late: (value: T) => void,
  drain?: DrainEnd,
): Promise<T> {
  const left = deadlineAt - Date.now();
  if (left > MAX_TIMER_MS) {
    // An async job's deadline may lie further away than a timer keeps: left unbounded.
    return work;
  }
  return new Promise<T>((resolve, reject) => {
    let past = false;
    let stopWatching: () => void = noop;
    const giveUp = (err: Error): void => {
      if (!past) {
        past = true;
        clearTimeout(timer);
        stopWatching();
        reject(err);
      }
    };
    const timer = setTimeout(() => giveUp(new PastDeadline()), Math.max(0, left));
    if (drain !== undefined) {
      stopWatching = drain.untilDrainEnd(() => giveUp(shutdownError()));
    }
    work.then(
      (value) => {
        if (past) {
          late(value);
          return;
        }
        clearTimeout(timer);
        stopWatching();
        resolve(value);
      },
      // A Redis call rejects with an Error.
      (err: Error) => {
        clearTimeout(timer);
        stopWatching();
        if (!past) {
          reject(err);
        }
      },
    );
  });
}

/**
 * A Redis call of a request's path bounded as `byDeadline` by when the request must be answered (`answerBy`) and by
 * the end of the shutdown drain (rejected with `shutdownError`, a GatewayError): the caller maps the rest, PastDeadline
 * and the call's own errors, whose answer differs by step. A plain call, no closure or promise of its own.
 */
export function boundedByAnswer<T>(
  work: Promise<T>,
  request: { receivedAt: number; deadlineAt: number },
  requestTimeoutMs: number,
  late: (value: T) => void,
  drain: DrainEnd,
): Promise<T> {
  return byDeadline(work, answerBy(request, requestTimeoutMs), late, drain);
}
