/**
 * Prefix of every routing key (circuits, latency averages, round-robin counters, route memory) of one
 * deployment namespace (REDIS_PREFIX). Every process touching routing state (the workers, the gateway's
 * admin circuit reset) must build its stores with this prefix to see the same keys.
 */
export function routingKeyPrefix(namespace: string): string {
  return `${namespace}:routing:`;
}

/** Prefix of the time-to-first-chunk latency averages (streams), beside the whole-call ones at `routingPrefix`. */
export function firstChunkLatencyPrefix(routingPrefix: string): string {
  return `${routingPrefix}stream:`;
}
