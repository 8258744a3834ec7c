/**
 * When a write-behind batch is written. The first item after a quiet spell (no write for `intervalMs`) is written
 * at once; while items keep coming, they are written together at most every `intervalMs`, in the turn of a call
 * that adds one, so a busy worker wakes for no timer; when they stop, a timer writes the rest at most
 * `maxDelayMs` after the first of them was added. One write at a time, in order, and on demand (`flush`, at
 * shutdown). The write takes whatever is pending when it starts and must not reject (its owner reports failures).
 */
export class FlushSchedule {
  private timer: NodeJS.Timeout | undefined;
  private readonly writes: SerialWrites;
  private lastFlushAt = -Infinity;

  constructor(
    private readonly intervalMs: number,
    private readonly maxDelayMs: number,
    write: () => Promise<void>,
  ) {
    this.writes = new SerialWrites(write);
  }

  /** Something was added (call it for every item). */
  added(): void {
    if (performance.now() - this.lastFlushAt >= this.intervalMs) {
      void this.flush();
    } else if (this.timer === undefined) {
      this.timer = setTimeout(() => void this.flush(), this.maxDelayMs);
      this.timer.unref();
    }
  }

  /** Writes what is pending now, after any write still running; resolves when that write is done. */
  flush(): Promise<void> {
    this.stop();
    this.lastFlushAt = performance.now();
    return this.writes.run();
  }

  /** Drops the scheduled write (at shutdown, after the last `flush`). */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/**
 * A write-behind store's writes, one at a time and in order: a write asked for while another runs starts after it,
 * and takes what is pending then (so a flush at shutdown never returns a timer's write in flight and loses what
 * changed after that one started). The write must not reject (its owner reports failures).
 */
export class SerialWrites {
  private last: Promise<void> = Promise.resolve();

  constructor(private readonly write: () => Promise<void>) {}

  /** Writes after any write still running; resolves when this one is done. */
  run(): Promise<void> {
    this.last = this.last.then(this.write);
    return this.last;
  }
}
