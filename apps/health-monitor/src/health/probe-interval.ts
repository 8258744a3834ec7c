import type { ProviderSpec } from '@aigw/core';
import type { MonitorEnv } from '../config/monitor-env';

/**
 * How often a provider is probed (its own `healthIntervalS`, else HEALTH_INTERVAL_S), or a gateway without one: the
 * schedules and the lifetime of a recorded status both follow it.
 */
export function probeEveryMs(env: MonitorEnv, provider?: ProviderSpec): number {
  return (provider?.healthIntervalS ?? env.HEALTH_INTERVAL_S) * 1000;
}
