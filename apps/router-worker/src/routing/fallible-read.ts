import type { Logger } from '@nestjs/common';
import { waitAtMost } from '@aigw/platform';
import { WarnThrottle } from './warn-throttle';

/** A job waits no longer than this for PostgreSQL; past it the read gives its fallback. */
const QUERY_TIMEOUT_MS = 500;
/** After a failed read, jobs skip PostgreSQL for this long instead of each waiting on a dead database. */
const BACKOFF_AFTER_FAILURE_MS = 5_000;

/**
 * A PostgreSQL read a job never fails by nor waits on for long: an error, or no answer within QUERY_TIMEOUT_MS, gives
 * the fallback, and for BACKOFF_AFTER_FAILURE_MS after it every read gives it without asking. One throttled warning
 * (`what`) says so. The generation path goes on without PostgreSQL (preferences, the key re-check).
 */
export class FallibleRead {
  private readonly warnings: WarnThrottle;
  private unavailableUntil = 0;

  constructor(
    logger: Logger,
    private readonly what: string,
  ) {
    this.warnings = new WarnThrottle(logger);
  }

  async run<T>(query: () => Promise<T>, fallback: T): Promise<T> {
    if (Date.now() < this.unavailableUntil) {
      return fallback;
    }
    try {
      const found = query();
      // The query may still finish later; its result is dropped.
      found.catch(() => undefined);
      const result = await waitAtMost(found, QUERY_TIMEOUT_MS);
      if (result === undefined) {
        throw new Error(`no answer within ${QUERY_TIMEOUT_MS} ms`);
      }
      return result;
    } catch (err) {
      this.unavailableUntil = Date.now() + BACKOFF_AFTER_FAILURE_MS;
      this.warnings.warn(this.what, err);
      return fallback;
    }
  }
}
