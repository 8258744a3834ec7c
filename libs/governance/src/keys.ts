import type { Periods } from './periods';

/** Every governance key of one deployment namespace (REDIS_PREFIX). */
export class GovernanceKeys {
  private readonly p: string;

  constructor(namespace: string) {
    this.p = `${namespace}:gov:`;
  }

  /**
   * Present while the quota counters are trustworthy. Redis losing its data (a flush, a restart without
   * persistence) loses this key too, which tells admission to rebuild the counters from usage_records.
   */
  get epoch(): string {
    // `epoch:n`: the spend counters are nano-dollars (`:n`). Those of a release that counted micro-dollars (`epoch`,
    // `:s`) are not read: its absence makes the first admission rebuild the counters from usage_records.
    return `${this.p}epoch:n`;
  }

  get rebuildLock(): string {
    return `${this.p}rebuild-lock`;
  }

  /**
   * Present once a reservation was settled (until its job can no longer run again), named by the admission's request
   * id: a run taking the job over shares it, an Idempotency-Key re-run (a new admission of the same job id) does not.
   */
  settled(jobId: string): string {
    return `${this.p}settled:${jobId}`;
  }

  /**
   * Present once a request was charged (`ADMIT_LUA`), named by its request id, for ADMIT_MARK_MS: the admission
   * script sent again after a dropped connection finds it and charges nothing a second time.
   */
  admitted(requestId: string): string {
    return `${this.p}admitted:${requestId}`;
  }

  /**
   * When an admin last reset the user's quota counters (epoch ms): a reservation made before a reset is not in the
   * counters the reset started over.
   */
  quotaResets(userId: string): string {
    return `${this.p}reset-at:${userId}`;
  }

  keyRequests(keyId: string, p: Periods): string {
    return `${this.p}rl:k:${keyId}:${p.window}:r`;
  }

  keyTokens(keyId: string, p: Periods): string {
    return `${this.p}rl:k:${keyId}:${p.window}:t`;
  }

  userRequests(userId: string, p: Periods): string {
    return `${this.p}rl:u:${userId}:${p.window}:r`;
  }

  userTokens(userId: string, p: Periods): string {
    return `${this.p}rl:u:${userId}:${p.window}:t`;
  }

  /**
   * A minute's token counter (`keyTokens`, `userTokens`) as it is named in a later minute `window`; null when `key` is
   * no such counter or its minute is not earlier (settled within it, or on a clock behind the one that admitted it).
   */
  tokensInWindow(key: string, window: number): string | null {
    if (!key.startsWith(`${this.p}rl:`) || !key.endsWith(':t')) {
      return null;
    }
    const end = key.length - 2;
    const start = key.lastIndexOf(':', end - 1) + 1;
    const was = Number(key.slice(start, end));
    return start > 0 && end > start && Number.isInteger(was) && was < window
      ? `${key.slice(0, start)}${window}:t`
      : null;
  }

  dayRequests(userId: string, day: string): string {
    return `${this.p}q:${userId}:d:${day}:r`;
  }

  /** Nano-dollars spent (and reserved) on the day. */
  daySpend(userId: string, day: string): string {
    return `${this.p}q:${userId}:d:${day}:n`;
  }

  monthRequests(userId: string, month: string): string {
    return `${this.p}q:${userId}:m:${month}:r`;
  }

  /** Nano-dollars spent (and reserved) in the month. */
  monthSpend(userId: string, month: string): string {
    return `${this.p}q:${userId}:m:${month}:n`;
  }

  /** Every quota key of a user, for a reset (any period). */
  userQuotaPattern(userId: string): string {
    return `${this.p}q:${userId}:*`;
  }
}
