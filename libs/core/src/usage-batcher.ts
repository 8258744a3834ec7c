import type { UsageEvent } from './queues';

/** Writes one batch (one INSERT, one usage job); resolves with the records written (duplicates skipped, not counted). */
export type BatchInserter = (events: UsageEvent[]) => Promise<number>;

export interface UsageBatcherOptions {
  /** Flush as soon as this many events are buffered. */
  maxBatch: number;
  /** Flush at the latest this long after the first event of a batch arrived. */
  flushMs: number;
  onWritten?: (inserted: number, batchSize: number) => void;
  onFailed?: (err: unknown, batchSize: number) => void;
}

interface Pending {
  event: UsageEvent;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Gathers usage events into few writes: the router-worker's usage writer (many jobs' events into one INSERT) and
 * the api-gateway's cache hits (many hits into one usage job). Each `add` settles with its batch: it resolves once
 * the batch is written and rejects when the write fails, so every job of a failed INSERT is retried by the queue
 * and none is acknowledged before its row exists.
 */
export class UsageBatcher {
  private buffer: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly insert: BatchInserter,
    private readonly opts: UsageBatcherOptions,
  ) {}

  /** Resolves once every event is written (one batch or several). */
  async addAll(events: readonly UsageEvent[]): Promise<void> {
    await Promise.all(events.map((e) => this.add(e)));
  }

  add(event: UsageEvent): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.buffer.push({ event, resolve, reject });
      if (this.buffer.length >= this.opts.maxBatch) {
        this.flushNow();
      } else if (this.timer === undefined) {
        this.timer = setTimeout(() => this.flushNow(), this.opts.flushMs);
      }
    });
  }

  /** Writes whatever is buffered and waits for every batch in flight (shutdown). Never rejects. */
  async flush(): Promise<void> {
    this.flushNow();
    await Promise.all(this.inFlight);
  }

  get buffered(): number {
    return this.buffer.length;
  }

  private flushNow(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.buffer.length === 0) {
      return;
    }
    const batch = this.buffer;
    this.buffer = [];
    const write = this.write(batch).finally(() => this.inFlight.delete(write));
    this.inFlight.add(write);
  }

  private async write(batch: Pending[]): Promise<void> {
    let inserted: number;
    try {
      inserted = await this.insert(batch.map((p) => p.event));
    } catch (err) {
      for (const p of batch) {
        p.reject(err);
      }
      this.opts.onFailed?.(err, batch.length);
      return;
    }
    for (const p of batch) {
      p.resolve();
    }
    this.opts.onWritten?.(inserted, batch.length);
  }
}
