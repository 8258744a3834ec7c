/**
 * When a write-behind batch is written: at most `delayMs` after the first item added since the last write, one
 * write at a time and in order, and on demand (`flush`, at shutdown). Idle, it holds no timer. The write takes
 * whatever is pending when it starts and must not reject (its owner reports failures).
 */
export class FlushSchedule {
  private timer: NodeJS.Timeout | undefined;
  private last: Promise<void> = Promise.resolve();

  constructor(
    private readonly delayMs: number,
    private readonly write: () => Promise<void>,
  ) {}

  /** Something was added: it is written within `delayMs`. */
  soon(): void {
    if (this.timer === undefined) {
      this.timer = setTimeout(() => void this.flush(), this.delayMs);
      this.timer.unref();
    }
  }

  /** Writes what is pending now, after any write still running; resolves when that write is done. */
  flush(): Promise<void> {
    this.stop();
    this.last = this.last.then(this.write);
    return this.last;
  }

  /** Drops the scheduled write (at shutdown, after the last `flush`). */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
