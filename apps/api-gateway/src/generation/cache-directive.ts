import { ErrorCode, GatewayError } from '@aigw/core';

/** Per-request cache control header of both APIs: `no-cache` (do not answer from the cache) or `no-store`. */
export const CACHE_HEADER = 'x-gateway-cache';
export const CACHE_CONTROL_HEADER = 'cache-control';

/**
 * What a request allows the response cache: `use` (answer from it, store the answer), `no-cache` (call a provider,
 * store its answer) or `no-store` (neither: the answer is not kept either).
 */
export type CacheDirective = 'use' | 'no-cache' | 'no-store';

/**
 * From `x-gateway-cache`, `Cache-Control` (its `no-cache` / `no-store` directives) and the native `useCache`
 * (false means no-store). The strictest wins.
 */
export function cacheDirectiveOf(
  gatewayHeader: string | undefined,
  cacheControl: string | undefined,
  useCache?: boolean,
): CacheDirective {
  if (gatewayHeader === undefined && cacheControl === undefined) {
    // Most requests carry neither header: no parsing.
    return useCache === false ? 'no-store' : 'use';
  }
  const said = new Set(
    [gatewayHeader ?? '', cacheControl ?? '']
      .flatMap((h) => h.split(','))
      .map((d) => d.trim().toLowerCase())
      .filter((d) => d !== ''),
  );
  if (useCache === false || said.has('no-store')) {
    return 'no-store';
  }
  return said.has('no-cache') ? 'no-cache' : 'use';
}

const GATEWAY_DIRECTIVES: ReadonlySet<string> = new Set(['no-cache', 'no-store']);

/**
 * 400 naming `x-gateway-cache` when it says anything but `no-cache` / `no-store` (in any case, comma-separated):
 * a misspelt `no_store`, or `bypass` copied from the answer's header, was ignored, and the answer stored. Checked as
 * the request arrives, with the other `x-gateway-*` headers. `Cache-Control` stays lenient: it carries directives
 * of its own (`max-age=0`, `private`) that clients and proxies add.
 */
export function checkCacheHeader(value: string | undefined): void {
  if (value === undefined || value === '') {
    return;
  }
  for (const part of value.split(',')) {
    const directive = part.trim().toLowerCase();
    if (directive !== '' && !GATEWAY_DIRECTIVES.has(directive)) {
      throw new GatewayError(ErrorCode.InvalidRequest, `${CACHE_HEADER} must be no-cache or no-store.`, {
        param: CACHE_HEADER,
      });
    }
  }
}
