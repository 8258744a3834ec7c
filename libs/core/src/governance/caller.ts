/**
 * What admission needs to know about a caller, resolved once per key lookup (cached with the key, so the
 * request path reads no database): the key's restrictions and every limit that applies, already resolved
 * (the key's own value, then the user's quota row, then the tier, then the configured default).
 * `null` means unlimited.
 */
export interface CallerLimits {
  /** Requests and tokens per minute of this key. */
  keyRpm: number | null;
  keyTpm: number | null;
  /** Requests and tokens per minute of the user, all their keys together. */
  userRpm: number | null;
  userTpm: number | null;
  dailyRequestLimit: number | null;
  monthlyRequestLimit: number | null;
  dailySpendLimitUsd: number | null;
  monthlySpendLimitUsd: number | null;
}

export interface CallerPolicy {
  tier: string;
  /** Epoch ms after which the key answers 401 key_expired; null: never. */
  expiresAt: number | null;
  /** Model names, `provider/model` refs or `provider/*` the key may use; null: every model. */
  allowedModels: readonly string[] | null;
  limits: CallerLimits;
}

export const NO_LIMITS: CallerLimits = Object.freeze({
  keyRpm: null,
  keyTpm: null,
  userRpm: null,
  userTpm: null,
  dailyRequestLimit: null,
  monthlyRequestLimit: null,
  dailySpendLimitUsd: null,
  monthlySpendLimitUsd: null,
});

/** True when no limit applies: admission then skips Redis entirely. */
export function unlimited(l: CallerLimits): boolean {
  return (
    l.keyRpm === null &&
    l.keyTpm === null &&
    l.userRpm === null &&
    l.userTpm === null &&
    l.dailyRequestLimit === null &&
    l.monthlyRequestLimit === null &&
    l.dailySpendLimitUsd === null &&
    l.monthlySpendLimitUsd === null
  );
}

/**
 * What admission charged for a request, so the worker can settle it to the real usage (Redis counter keys
 * and amounts; tokens are counted per minute, spend in nano-dollars). Plain data: it rides in the job.
 */
export interface Reservation {
  tokenKeys: string[];
  tokens: number;
  spendKeys: string[];
  nanos: number;
  /**
   * Micro-dollars instead of `nanos`: a reservation made by a release that counted spend in micro-dollars (a job
   * queued across the upgrade), in that release's counters. Settled in their unit.
   */
  micros?: number;
  /**
   * What the counters were at admission: the quota epoch (`-` when none) and the user's last reset time (`0` when
   * none). A rebuild after Redis lost its data (a new epoch) or an admin reset (a new time) replaced the counters
   * since, so they no longer hold this reservation, and taking it off would take off what the requests admitted
   * since reserved (see SETTLE_LUA). Absent from a reservation of an older release (settled as before).
   * `periodEnds`: when the day or month of each spend key ends (epoch ms, in `spendKeys` order), as a reset replaces
   * only the counters of its own day and month (absent from an older release's: any reset replaced them all).
   */
  counters?: { epoch: string; resets: string; resetsKey: string; periodEnds?: number[] };
  /**
   * The day's and month's request counters admission charged (those whose limit applies) and when each day or month
   * ends (epoch ms): a request given back whole that nobody served and nothing records (its job cancelled or removed
   * before a worker took it) is taken off them (`AdmissionStore.settle`'s `uncount`). Absent from a reservation of an
   * older release, or when no request quota applies.
   */
  requests?: { keys: string[]; periodEnds: number[] };
}
