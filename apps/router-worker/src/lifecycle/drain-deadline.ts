import { Injectable } from '@nestjs/common';

/**
 * Aborts when a shutting-down worker stops waiting for its running jobs (the drain part of
 * SHUTDOWN_GRACE_MS). Work that waits for Redis to come back (usage events, kept answers) gives up then, so
 * the process can exit on time; the jobs it gave up on are taken over by another worker.
 */
@Injectable()
export class DrainDeadline {
  private readonly controller = new AbortController();

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get passed(): boolean {
    return this.controller.signal.aborted;
  }

  pass(): void {
    this.controller.abort(new Error('shutdown grace exceeded'));
  }
}
