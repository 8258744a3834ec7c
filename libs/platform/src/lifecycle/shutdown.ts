import { noop } from '@aigw/core';
import {
  Global,
  Injectable,
  Logger,
  Module,
  type INestApplicationContext,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { waitAtMost } from './wait-at-most';

/**
 * How SHUTDOWN_GRACE_MS is spent after SIGTERM: in-flight work may run for `drainMs`; what still runs then is
 * abandoned (aborted with a retryable answer), connections close in the rest, and at `hardExitMs` the process
 * exits whatever is still pending (a QUIT to an unreachable Redis, a PostgreSQL pool that cannot end).
 */
export interface ShutdownBudget {
  drainMs: number;
  hardExitMs: number;
}

export function shutdownBudget(graceMs: number): ShutdownBudget {
  // Closing connections takes milliseconds when the servers answer; the reserve covers the case they don't.
  const reserve = Math.min(2_000, Math.max(50, Math.round(graceMs * 0.2)));
  return { drainMs: Math.max(0, graceMs - reserve), hardExitMs: Math.max(0, graceMs - Math.min(100, reserve / 2)) };
}

/**
 * What a grace must exceed a deadline by for its drain to outlast it (the 2 s reserve, and 3 s for the answer made at
 * the deadline, a 504 or the worker's cut, to go out).
 */
export const GRACE_BEYOND_DEADLINE_MS = 5_000;

/** The shortest SHUTDOWN_GRACE_MS whose drain (`shutdownBudget`) lets a request run to `deadlineMs` and be answered. */
export function graceCovering(deadlineMs: number): number {
  return deadlineMs + GRACE_BEYOND_DEADLINE_MS;
}

/**
 * Closes what a start that failed had opened (its connections, its subscriptions; `close` is an app's, or a host's of
 * several) within the grace, whatever the close throws or however long it hangs: the start's own failure is what the
 * process reports. Shared by every app whose start can fail after its app is built (a PORT in use).
 */
export async function closeAfterFailedStart(app: { close(): Promise<unknown> }, graceMs: number): Promise<void> {
  await waitAtMost(app.close().catch(noop), shutdownBudget(graceMs).hardExitMs);
}

/** Work a shutting-down process gave up on; a non-empty list makes it exit non-zero. */
@Injectable()
export class ShutdownState implements OnApplicationShutdown {
  private readonly abandoned: string[] = [];
  /** What ends with the drain (`endDrain`): requests still waiting for Redis before they watch a job. */
  private readonly atDrainEnd = new Set<() => void>();
  private drainEnded = false;
  /** Removes the signal listeners once the app is closed (however it was closed: tests close apps directly). */
  unlisten?: () => void;

  onApplicationShutdown(): void {
    this.unlisten?.();
  }

  abandon(what: string): void {
    this.abandoned.push(what);
  }

  /**
   * Calls `end` when the shutdown drain ends (`endDrain`), at once if it has ended; returns what stops that (call it
   * once the wait is over). One Set entry per wait; nothing else.
   */
  untilDrainEnd(end: () => void): () => void {
    if (this.drainEnded) {
      end();
      return noop;
    }
    this.atDrainEnd.add(end);
    return () => this.atDrainEnd.delete(end);
  }

  /** The drain is over: whatever waits through `untilDrainEnd` ends now; returns how many did. */
  endDrain(): number {
    this.drainEnded = true;
    const ending = [...this.atDrainEnd];
    this.atDrainEnd.clear();
    for (const end of ending) {
      end();
    }
    return ending.length;
  }

  get abandonedWork(): readonly string[] {
    return this.abandoned;
  }
}

@Global()
@Module({ providers: [ShutdownState], exports: [ShutdownState] })
export class ShutdownModule {}

/**
 * SIGTERM and SIGINT close the app (Nest's shutdown hooks run in order) and exit: 0 when everything finished,
 * 1 when work was abandoned or the close failed, and 1 from a watchdog when the close has not finished just
 * before `graceMs` has passed. Kubernetes' terminationGracePeriodSeconds must be longer than the grace.
 */
export function installGracefulShutdown(app: INestApplicationContext, graceMs: number, appName: string): void {
  const state = app.get(ShutdownState, { strict: false });
  state.unlisten = exitOnSignal(
    async () => {
      await app.close();
      return state.abandonedWork;
    },
    graceMs,
    appName,
  );
}

/**
 * On the first SIGTERM or SIGINT, runs `close` (which resolves with the work it abandoned) and exits as
 * `installGracefulShutdown` describes. For a process that orders the close of several apps itself (ADR 0010).
 * Returns a function that removes the signal listeners.
 */
export function exitOnSignal(close: () => Promise<readonly string[]>, graceMs: number, appName: string): () => void {
  const logger = new Logger(appName);
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      return;
    }
    stopping = true;
    const { hardExitMs } = shutdownBudget(graceMs);
    logger.log(`${signal}: shutting down (grace ${graceMs} ms)`);
    const watchdog = setTimeout(() => {
      logger.error(`shutdown not finished within ${graceMs} ms; exiting with work abandoned`);
      process.exit(1);
    }, hardExitMs);
    close().then(
      (abandoned) => {
        clearTimeout(watchdog);
        if (abandoned.length > 0) {
          logger.warn(`stopped; abandoned: ${abandoned.join('; ')}`);
          process.exit(1);
        }
        process.exit(0);
      },
      (err: unknown) => {
        clearTimeout(watchdog);
        logger.error(`shutdown failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  return () => {
    process.removeListener('SIGTERM', stop);
    process.removeListener('SIGINT', stop);
  };
}
