import type { RedisKeys } from '@aigw/platform';

/** Key prefix of every routing store (circuits, latency, round-robin, route memory) in this namespace. */
export function routingKeyPrefix(keys: RedisKeys): string {
  return `${keys.key('routing')}:`;
}
