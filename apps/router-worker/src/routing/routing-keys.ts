import type { RedisKeys } from '@aigw/platform';
import { routingKeyPrefix as prefixOf } from '@aigw/routing';

/** Key prefix of every routing store in this namespace (`<REDIS_PREFIX>:routing:`). */
export function routingKeyPrefix(keys: RedisKeys): string {
  return prefixOf(keys.prefix);
}
