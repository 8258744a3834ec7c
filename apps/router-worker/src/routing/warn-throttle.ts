import type { Logger } from '@nestjs/common';
import { describeError } from '@aigw/platform';

/**
 * Logs a warning at most once per interval. Routing keeps working when Redis or PostgreSQL blink
 * (it falls back to defaults); the log must say so without one line per request.
 */
export class WarnThrottle {
  private last = -Infinity;
  private suppressed = 0;

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  warn(what: string, err: unknown): void {
    const now = this.now();
    if (now - this.last < this.intervalMs) {
      this.suppressed++;
      return;
    }
    const more = this.suppressed > 0 ? ` (${this.suppressed} similar warnings suppressed)` : '';
    this.last = now;
    this.suppressed = 0;
    this.logger.warn(`${what}: ${describeError(err)}${more}`);
  }
}
