/** How long released keys gather before one UNLINK deletes them all. */
export const RELEASE_EVERY_MS = 100;
/** Keys per UNLINK at most (a burst is split over several commands of one write). */
export const RELEASE_BATCH = 500;

/**
 * Deletes kept outcomes (ADR 0001) nobody will read any more, in batches: one UNLINK per RELEASE_EVERY_MS for
 * however many requests ended meanwhile, nothing at all while idle. Best effort: a failed or late delete leaves the
 * key to its TTL (the request's deadline plus a margin), and a worker's write arriving after the delete does too.
 */
export class OutcomeRelease {
  private pending: string[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly unlink: (keys: string[]) => Promise<unknown>,
    private readonly failed: (err: unknown) => void,
    private readonly everyMs = RELEASE_EVERY_MS,
  ) {}

  release(key: string): void {
    this.pending.push(key);
    if (this.timer === undefined) {
      this.timer = setTimeout(() => void this.flush(), this.everyMs);
      this.timer.unref();
    }
  }

  /** Deletes what is pending now (also on shutdown); resolves once Redis answered, never rejects. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const keys = this.pending;
    this.pending = [];
    const deletes: Promise<unknown>[] = [];
    for (let i = 0; i < keys.length; i += RELEASE_BATCH) {
      deletes.push(this.unlink(keys.slice(i, i + RELEASE_BATCH)).catch(this.failed));
    }
    return Promise.all(deletes).then(() => undefined);
  }
}
