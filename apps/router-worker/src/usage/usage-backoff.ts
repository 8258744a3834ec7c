import type { BackoffStrategy, JobsOptions } from 'bullmq';

/** Backoff type of usage jobs; the usage writer's Worker registers `usageBackoffStrategy` for it. */
export const USAGE_BACKOFF = 'usage-capped';
const BASE_MS = 250;
const CAP_MS = 30_000;
/** About eight hours of retries at the cap: a long PostgreSQL outage still loses no record. */
const ATTEMPTS = 1000;

/**
 * Delay before retry `attemptsMade` (1 for the first): doubling from BASE_MS up to CAP_MS, drawn from the
 * upper half of that range so that the jobs of one failed batch come back spread out, but not at once.
 */
export function usageRetryDelayMs(attemptsMade: number, random: () => number = Math.random): number {
  const ceiling = Math.min(CAP_MS, BASE_MS * 2 ** Math.max(0, attemptsMade - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

export const usageBackoffStrategy: BackoffStrategy = (attemptsMade) => usageRetryDelayMs(attemptsMade);

/** Options of a usage batch job; failed ones stay visible. Duplicates (a re-run generate job) die in the insert. */
export function usageJobOptions(): JobsOptions {
  return {
    attempts: ATTEMPTS,
    backoff: { type: USAGE_BACKOFF },
    removeOnComplete: true,
    removeOnFail: false,
  };
}
