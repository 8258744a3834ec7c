import { Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { PREFERENCE_USAGE_RETRY_MS, PreferenceStore, type PreferenceUse } from '@aigw/entities';
import { MigratedDatabase } from '@aigw/platform';
import { SerialWrites } from './flush-schedule';
import { WarnThrottle } from './warn-throttle';

/** How often the counted uses are written: a preference's counters lag the traffic by about this much. */
export const PREFERENCE_USAGE_FLUSH_MS = 1_000;
/** Distinct preferences held between flushes; past it (PostgreSQL down for long) new ones are not counted. */
const MAX_PENDING = 50_000;

/**
 * A batch of uses as written: retried with the same id until written, so that a write whose reply was lost after
 * PostgreSQL committed it is not added again; given up after PREFERENCE_USAGE_RETRY_MS (the store keeps the ids of
 * batches written longer than that).
 */
interface Batch {
  id: string;
  uses: PreferenceUse[];
  /** performance.now() at its first write. */
  firstTriedAt: number;
}

/** Uses of one preference since the last flush; the time as a number, so counting allocates nothing. */
interface Pending {
  userId: string;
  context: string;
  preferred: string;
  count: number;
  lastUsedMs: number;
}

/**
 * Counts the uses of each preference (`usageCount`, `lastUsedAt`) in memory and writes them every second in
 * one UPDATE for every preference used since the last flush. Counting costs the request path a Map update:
 * no Redis or PostgreSQL round trip. A failed write is retried as the same batch at the next flush, and added once
 * even when it had been committed (`Batch`); a worker that dies loses at most its last second of counts
 * (statistics, not billing: usage_records holds the truth).
 */
@Injectable()
export class PreferenceUsage implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(PreferenceUsage.name);
  private readonly warnings = new WarnThrottle(this.logger);
  private readonly store: PreferenceStore;
  private pending = new Map<string, Pending>();
  /** The batch whose write failed, retried first at the next flush. */
  private unwritten?: Batch;
  private timer?: NodeJS.Timeout;
  private readonly writes = new SerialWrites(() => this.write());

  constructor(db: MigratedDatabase) {
    this.store = new PreferenceStore(db.dataSource);
  }

  onModuleInit(): void {
    this.timer = setInterval(() => void this.flush(), PREFERENCE_USAGE_FLUSH_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  /**
   * One use of the user's preference for `context` ('' = the user's default) while it named `preferred`
   * (`provider/model` or a model). Keyed by the deployment too: re-pointed, it is another preference.
   */
  record(userId: string, context: string, preferred: string, at = Date.now()): void {
    const key = `${userId}\u0000${context}\u0000${preferred}`;
    const use = this.pending.get(key);
    if (use !== undefined) {
      use.count++;
      if (at > use.lastUsedMs) {
        use.lastUsedMs = at;
      }
    } else if (this.pending.size < MAX_PENDING) {
      this.pending.set(key, { userId, context, preferred, count: 1, lastUsedMs: at });
    }
  }

  /** Writes what was counted so far (also at shutdown, before the database closes); resolves once it is written. */
  flush(): Promise<void> {
    return this.writes.run();
  }

  /**
   * Retries the batch that failed, if any, with its id (the store adds a batch once, however often it is written:
   * a failure may come after PostgreSQL committed it); then writes what was counted since as a new batch. While the
   * failed batch is not written, new uses stay pending (at most MAX_PENDING of each).
   */
  private async write(): Promise<void> {
    if (this.unwritten !== undefined) {
      if (!(await this.tryWrite(this.unwritten))) {
        return;
      }
      this.unwritten = undefined;
    }
    if (this.pending.size === 0) {
      return;
    }
    const uses: PreferenceUse[] = [];
    for (const p of this.pending.values()) {
      uses.push({
        userId: p.userId,
        context: p.context,
        preferred: p.preferred,
        count: p.count,
        lastUsedAt: new Date(p.lastUsedMs),
      });
    }
    this.pending = new Map();
    const batch: Batch = { id: randomUUID(), uses, firstTriedAt: performance.now() };
    if (!(await this.tryWrite(batch))) {
      this.unwritten = batch;
    }
  }

  /** True once the batch is written (or given up on); false to retry it at the next flush. */
  private async tryWrite(batch: Batch): Promise<boolean> {
    try {
      await this.store.recordUses(batch.uses, batch.id);
      return true;
    } catch (err) {
      if (performance.now() - batch.firstTriedAt >= PREFERENCE_USAGE_RETRY_MS) {
        this.logger.warn(
          `preference usage of ${batch.uses.length} preference(s) dropped: not written for ` +
            `${PREFERENCE_USAGE_RETRY_MS / 3_600_000} h`,
        );
        return true;
      }
      this.warnings.warn('preference usage not written, kept for the next flush', err);
      return false;
    }
  }
}
