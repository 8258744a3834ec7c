import { Injectable } from '@nestjs/common';
import { sleep } from '../routing/sleep';
import { redisRetryDelayMs, RedisHandOffAbandoned } from './redis-retry';

/**
 * Aborts when a shutting-down worker stops waiting for its running jobs (the drain part of
 * SHUTDOWN_GRACE_MS). Work that waits for Redis to come back (usage events, kept answers) gives up then, so
 * the process can exit on time; the jobs it gave up on are taken over by another worker.
 */
@Injectable()
export class DrainDeadline {
  private readonly controller = new AbortController();
  private abandoned = 0;
  private readonly waiters = new Set<() => void>();

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get passed(): boolean {
    return this.controller.signal.aborted;
  }

  pass(): void {
    this.controller.abort(new Error('shutdown grace exceeded'));
    for (const giveUp of this.waiters) {
      giveUp();
    }
  }

  /** Jobs whose results were given up on (they are re-run elsewhere once Redis is back). */
  get abandonedJobs(): number {
    return this.abandoned;
  }

  /**
   * `work` (handing a job's results to Redis), unless the deadline passes first while `stuck()` says Redis is
   * still away: then the job is given up at once rather than after the connection's own retries. Waiters are
   * kept in a Set, not as listeners on the signal: hundreds of concurrent jobs would make every add and remove
   * of an EventTarget listener a linear scan.
   */
  async handOff<T>(work: Promise<T>, what: string, stuck: () => boolean): Promise<T> {
    if (this.passed && stuck()) {
      work.catch(() => undefined);
      this.abandoned++;
      throw new RedisHandOffAbandoned(what);
    }
    let giveUp: (() => void) | undefined;
    const given = new Promise<never>((_, reject) => {
      giveUp = () => {
        if (stuck()) {
          reject(new RedisHandOffAbandoned(what));
        }
      };
    });
    const waiter = giveUp as () => void;
    this.waiters.add(waiter);
    try {
      return await Promise.race([work, given]);
    } catch (err) {
      if (err instanceof RedisHandOffAbandoned) {
        work.catch(() => undefined);
        this.abandoned++;
      }
      throw err;
    } finally {
      this.waiters.delete(waiter);
    }
  }

  /**
   * Runs `attempt` until Redis takes it, backing off between failures (each reported to `failed`); rejects with
   * RedisHandOffAbandoned only once the deadline passed, so that the worker can stop.
   */
  async untilStored(what: string, attempt: () => Promise<unknown>, failed: (err: unknown) => void): Promise<void> {
    for (let failures = 0; ;) {
      try {
        await attempt();
        return;
      } catch (err) {
        failed(err);
        failures++;
        if (this.passed) {
          throw new RedisHandOffAbandoned(what, { cause: err });
        }
        await sleep(redisRetryDelayMs(failures), this.signal);
      }
    }
  }
}
