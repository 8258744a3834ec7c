import { Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { PreferenceStore, type PreferenceUse } from '@aigw/entities';
import { MigratedDatabase } from '@aigw/platform';
import { SerialWrites } from './flush-schedule';
import { WarnThrottle } from './warn-throttle';

/** How often the counted uses are written: a preference's counters lag the traffic by about this much. */
export const PREFERENCE_USAGE_FLUSH_MS = 1_000;
/** Distinct preferences held between flushes; past it (PostgreSQL down for long) new ones are not counted. */
const MAX_PENDING = 50_000;

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
 * no Redis or PostgreSQL round trip. A failed write keeps the counts for the next flush; a worker that dies
 * loses at most its last second of counts (statistics, not billing: usage_records holds the truth).
 */
@Injectable()
export class PreferenceUsage implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(PreferenceUsage.name);
  private readonly warnings = new WarnThrottle(this.logger);
  private readonly store: PreferenceStore;
  private pending = new Map<string, Pending>();
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

  private async write(): Promise<void> {
    if (this.pending.size === 0) {
      return;
    }
    const batch = this.pending;
    this.pending = new Map();
    try {
      const uses: PreferenceUse[] = [];
      for (const p of batch.values()) {
        uses.push({
          userId: p.userId,
          context: p.context,
          preferred: p.preferred,
          count: p.count,
          lastUsedAt: new Date(p.lastUsedMs),
        });
      }
      await this.store.recordUses(uses);
    } catch (err) {
      this.warnings.warn('preference usage not written, kept for the next flush', err);
      for (const [key, use] of batch) {
        const newer = this.pending.get(key);
        if (newer !== undefined) {
          newer.count += use.count;
          if (use.lastUsedMs > newer.lastUsedMs) {
            newer.lastUsedMs = use.lastUsedMs;
          }
        } else if (this.pending.size < MAX_PENDING) {
          this.pending.set(key, use);
        }
      }
    }
  }
}
