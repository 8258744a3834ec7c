import { Injectable } from '@nestjs/common';
import { RedisHandOffAbandoned } from './redis-retry';

/**
 * Aborts when a shutting-down worker stops waiting for its running jobs (the drain part of
 * SHUTDOWN_GRACE_MS). Work that waits for Redis to come back (usage events, kept answers) gives up then, so
 * the process can exit on time; the jobs it gave up on are taken over by another worker.
 */
@Injectable()
export class DrainDeadline {
  private readonly controller = new AbortController();
  private abandoned = 0;

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get passed(): boolean {
    return this.controller.signal.aborted;
  }

  pass(): void {
    this.controller.abort(new Error('shutdown grace exceeded'));
  }

  /** Jobs whose results were given up on (they are re-run elsewhere once Redis is back). */
  get abandonedJobs(): number {
    return this.abandoned;
  }

  /**
   * `work` (handing a job's results to Redis), unless the deadline passes first while `stuck()` says Redis is
   * still away: then the job is given up at once rather than after the connection's own retries.
   */
  async handOff<T>(work: Promise<T>, what: string, stuck: () => boolean): Promise<T> {
    work.catch(() => undefined);
    const signal = this.controller.signal;
    let onAbort: (() => void) | undefined;
    const given = new Promise<never>((_, reject) => {
      onAbort = () => {
        if (stuck()) {
          reject(new RedisHandOffAbandoned(what));
        }
      };
      if (signal.aborted) {
        onAbort();
      } else {
        signal.addEventListener('abort', onAbort, { once: true });
      }
    });
    given.catch(() => undefined);
    try {
      return await Promise.race([work, given]);
    } catch (err) {
      if (err instanceof RedisHandOffAbandoned) {
        this.abandoned++;
      }
      throw err;
    } finally {
      if (onAbort) {
        signal.removeEventListener('abort', onAbort);
      }
    }
  }
}
