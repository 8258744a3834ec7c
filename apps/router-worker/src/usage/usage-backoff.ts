import { USAGE_BACKOFF, USAGE_JOB_ATTEMPTS } from '@aigw/core';
import type { BackoffStrategy, JobsOptions } from 'bullmq';

// The usage writer's Worker registers `usageBackoffStrategy` for this type.
export { USAGE_BACKOFF };
const BASE_MS = 250;
const CAP_MS = 30_000;
/** USAGE_JOB_ATTEMPTS: about eight hours of retries at the cap, so a long PostgreSQL outage loses no record. */

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
    attempts: USAGE_JOB_ATTEMPTS,
    backoff: { type: USAGE_BACKOFF },
    removeOnComplete: true,
    removeOnFail: false,
  };
}
