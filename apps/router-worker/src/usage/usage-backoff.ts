import { USAGE_BACKOFF, usageJobOptions } from '@aigw/core';
import type { BackoffStrategy } from 'bullmq';

// The usage writer's Worker registers `usageBackoffStrategy` for this type; every usage job uses it.
export { USAGE_BACKOFF, usageJobOptions };
const BASE_MS = 250;
const CAP_MS = 30_000;
// USAGE_JOB_ATTEMPTS (core): hours of retries at the cap for failures other than an unreachable PostgreSQL, whose
// jobs the usage writer delays without spending an attempt, however long the outage.

/**
 * Delay before retry `attemptsMade` (1 for the first): doubling from BASE_MS up to CAP_MS, drawn from the
 * upper half of that range so that the jobs of one failed batch come back spread out, but not at once.
 */
export function usageRetryDelayMs(attemptsMade: number, random: () => number = Math.random): number {
  const ceiling = Math.min(CAP_MS, BASE_MS * 2 ** Math.max(0, attemptsMade - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

export const usageBackoffStrategy: BackoffStrategy = (attemptsMade) => usageRetryDelayMs(attemptsMade);
