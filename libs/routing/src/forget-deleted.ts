import { DEFAULT_CIRCUIT_CONFIG } from '@aigw/core';
import { CircuitBreakerStore } from './circuit-breaker.store';
import { firstChunkLatencyPrefix, routingKeyPrefix } from './keys';
import { LatencyTracker } from './latency-tracker';
import { ProviderQuotaStore } from './provider-quota.store';
import type { RedisClient } from './redis-script';
import { RouteMemory } from './route-memory';

/** What an admin deleted: some deployments of a provider, or (`wholeProvider`) the provider with all of them. */
export interface DeletedRouting {
  providerId: string;
  deploymentIds: readonly string[];
  wholeProvider: boolean;
}

/**
 * Forgets what the workers learnt in Redis about deleted deployments: circuits, both latency averages and, for a
 * whole provider, its remembered route and rate limits. Without it a provider or model re-created with the same id
 * would inherit an open circuit, a stale average or another provider's quota. The keys are shared, so every
 * replica sees the change at once; each worker drops what it holds in memory when its catalog reloads.
 */
export async function forgetDeletedRouting(
  redis: RedisClient,
  namespace: string,
  deleted: DeletedRouting,
): Promise<void> {
  const prefix = routingKeyPrefix(namespace);
  // Deletes only: the thresholds and the smoothing do not matter here.
  const circuits = new CircuitBreakerStore(redis, prefix, DEFAULT_CIRCUIT_CONFIG);
  const latencies = [prefix, firstChunkLatencyPrefix(prefix)].map((p) => new LatencyTracker(redis, p, { alpha: 1 }));
  await Promise.all([
    ...deleted.deploymentIds.map((id) => circuits.forget(id)),
    ...latencies.map((l) => l.forget(deleted.deploymentIds)),
    ...(deleted.wholeProvider
      ? [
          new RouteMemory(redis, prefix).forget(deleted.providerId),
          new ProviderQuotaStore(redis, namespace).forget(deleted.providerId),
        ]
      : []),
  ]);
}
