import type { CountersSnapshot } from '@aigw/governance';

/**
 * The live quota counters of a user (requests and spend in the current day and month), as admission counts
 * them. Injected by the QUOTA_COUNTERS token so the admin and usage views do not depend on where they live.
 */
export const QUOTA_COUNTERS = Symbol('QUOTA_COUNTERS');

export interface QuotaCounters {
  dailyRequests: number;
  monthlyRequests: number;
  dailySpendUsd: number;
  monthlySpendUsd: number;
  /** ISO instants the daily and monthly counters start over (UTC midnight, the first of next month). */
  dailyResetsAt: string;
  monthlyResetsAt: string;
}

export interface QuotaCountersPort {
  read(userId: string, now: number): Promise<QuotaCounters>;
  /** Zeroes the user's counters; called after the reset times in user_quotas were set to `at`. */
  reset(userId: string, at: Date): Promise<void>;
  /** The user's counters as they stand: taken before a change of their limits is committed, for `reseed`. */
  snapshot(userId: string): Promise<CountersSnapshot>;
  /**
   * Sets the user's counters to what usage_records say, after their limits changed: a limit set where there was
   * none counts from what was already spent, not from zero. What the counters gained since `before` (requests
   * admitted under the new limits meanwhile) is kept on top.
   */
  reseed(userId: string, before: CountersSnapshot): Promise<void>;
}
