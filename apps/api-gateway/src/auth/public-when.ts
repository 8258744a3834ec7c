import { SetMetadata } from '@nestjs/common';
import type { GatewayEnv } from '../config/gateway-env';

export const PUBLIC_WHEN = Symbol('publicWhen');

/** Decides from the validated environment whether a route is open without an API key. */
export type PublicPredicate = (env: GatewayEnv) => boolean;

/**
 * Opens a route to callers without a key when the configuration says so (e.g. `MODELS_PUBLIC`); read from the
 * validated env by the global ApiKeyGuard, never from process.env in the decorator. Such a route gets
 * `request.auth` null and must limit anonymous callers itself.
 */
export function PublicWhen(predicate: PublicPredicate): MethodDecorator {
  return SetMetadata(PUBLIC_WHEN, predicate);
}
