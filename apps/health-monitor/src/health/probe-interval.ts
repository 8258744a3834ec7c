import type { ProviderSpec } from '@aigw/core';
import type { MonitorEnv } from '../config/monitor-env';

/**
 * How often a provider is probed (its own `healthIntervalS`, else HEALTH_INTERVAL_S), or a gateway without one: the
 * schedules and the lifetime of a recorded status both follow it.
 */
export function probeEveryMs(env: MonitorEnv, provider?: ProviderSpec): number {
  return (provider?.healthIntervalS ?? env.HEALTH_INTERVAL_S) * 1000;
}

/**
 * How long a probe of a subject probed every `everyMs` may take: the interval less a margin (a quarter of it, at most
 * 1 s) for recording it. The next scheduled cycle starts an interval after this one did, and a cycle still holding
 * the subject's lock (`ProbeCycleLock`) would make it skip: a probe that timed out at the interval itself, of a
 * provider that hangs, overlapped the next one and had it skipped, leaving one probe per two intervals.
 */
export function probeBudgetMs(everyMs: number): number {
  return everyMs - Math.min(1000, everyMs / 4);
}
