import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { QuotaUsageStore } from '@aigw/entities';
import { GovernanceKeys, periodStarts, QUOTA_RESETS_KEEP_MS, QuotaCountersStore } from '@aigw/governance';
import { describeError, REDIS, RedisErrors, RedisKeys, MigratedDatabase } from '@aigw/platform';
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

/** Longer than any rebuild: one query and a few pipelined writes. */
const LOCK_MS = 30_000;
/**
 * After a failed rebuild, the next starts no sooner than this (the Retry-After admission answers meanwhile): with
 * PostgreSQL or Redis down, every limited request would otherwise start one, each a warning.
 */
export const REBUILD_RETRY_MS = 1_000;

/**
 * Rebuilds every user's quota counters from usage_records after Redis lost them (the epoch key is gone:
 * a flush, or a restart without persistence), so nobody's spend resets with Redis. Runs in the background
 * of whichever replica noticed first; admission answers 503 with Retry-After meanwhile (a second or so).
 */
@Injectable()
export class QuotaRebuilder implements OnApplicationBootstrap {
  private readonly logger = new Logger(QuotaRebuilder.name);
  private readonly counters: QuotaCountersStore;
  private readonly usage: QuotaUsageStore;
  private running: Promise<void> | null = null;
  /** Epoch ms before which no new rebuild starts (set by a failed one). */
  private notBefore = 0;

  constructor(
    @Inject(REDIS) redis: Redis,
    keys: RedisKeys,
    db: MigratedDatabase,
    private readonly errors: RedisErrors,
  ) {
    this.counters = new QuotaCountersStore(redis, new GovernanceKeys(keys.prefix));
    this.usage = new QuotaUsageStore(db.dataSource);
  }

  /** A fresh deployment (or one whose Redis lost its data while this replica was down) rebuilds at boot. */
  async onApplicationBootstrap(): Promise<void> {
    try {
      if (!(await this.counters.isRebuilt())) {
        await this.trigger();
      }
    } catch (err) {
      // Redis not reachable at boot: admission finds out on the first limited request.
      this.errors.report('quota_rebuild', err);
    }
  }

  /**
   * Starts a rebuild unless one runs in this process or one failed less than REBUILD_RETRY_MS ago; resolves when it
   * ended (done, failed, or left to another replica).
   */
  trigger(): Promise<void> {
    if (this.running === null && Date.now() < this.notBefore) {
      return Promise.resolve();
    }
    this.running ??= this.rebuild().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async rebuild(): Promise<void> {
    const holder = randomUUID();
    let locked = false;
    // A failure while reading usage_records is PostgreSQL's: reported as Redis', it read as a Redis outage.
    let readingDatabase = false;
    try {
      locked = await this.counters.lockRebuild(holder, LOCK_MS);
      // Another replica that saw the counters lost too may have rebuilt them between our look and the lock. A second
      // rebuild would wipe the spend settled since its read, and its new epoch would make every request admitted
      // under the first settle as if Redis had lost its data (adding its tokens to the minute's counters again).
      if (!locked || (await this.counters.isRebuilt())) {
        return;
      }
      const now = Date.now();
      const { dayStart, monthStart } = periodStarts(now);
      readingDatabase = true;
      const [rows, resets] = await Promise.all([
        this.usage.periodTotals(new Date(dayStart), new Date(monthStart)),
        this.usage.resetsSince(new Date(now - QUOTA_RESETS_KEEP_MS)),
      ]);
      readingDatabase = false;
      await this.counters.write(rows, now, resets);
      await this.counters.markRebuilt(now);
      this.logger.log(`quota counters rebuilt from usage_records for ${rows.length} user(s)`);
    } catch (err) {
      if (!readingDatabase) {
        this.errors.report('quota_rebuild', err);
      }
      this.notBefore = Date.now() + REBUILD_RETRY_MS;
      const from = readingDatabase ? 'usage_records not read' : 'Redis failed';
      this.logger.warn(
        `quota counters not rebuilt (${from}), retried by a request after ${REBUILD_RETRY_MS} ms: ${describeError(err)}`,
      );
    } finally {
      if (locked) {
        await this.counters.unlockRebuild().catch(() => undefined);
      }
    }
  }
}
