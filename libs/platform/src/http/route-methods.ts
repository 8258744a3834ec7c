import type { FastifyInstance, FastifyRequest } from 'fastify';

/** The routes of an app: each method it answers, with the paths as declared (`/api/v1/ai/jobs/:id`). */
const routeTables = new WeakMap<FastifyInstance, Map<string, string[]>>();

/**
 * Collects the methods the app's routes answer, so that a request whose path exists with other methods is told so
 * (`405` with `Allow`, or `204` with `Allow` to `OPTIONS`) instead of `404`, and the declared paths, which a 405
 * quotes. Install before the routes.
 */
export function collectRouteMethods(fastify: FastifyInstance): void {
  const table = new Map<string, string[]>();
  routeTables.set(fastify, table);
  const add = (method: string, url: string): void => {
    const paths = table.get(method) ?? [];
    paths.push(url);
    table.set(method, paths);
  };
  fastify.addHook('onRoute', (route) => {
    for (const method of Array.isArray(route.method) ? route.method : [route.method]) {
      add(method, route.url);
      if (method === 'GET' && route.exposeHeadRoute !== false) {
        add('HEAD', route.url);
      }
    }
  });
}

/**
 * Every route of the app as declared (`GET /api/v1/ai/jobs/:id`, `GET /v1/models/*`), `HEAD` ones included: what the
 * OpenAPI document is checked against (test/gateway/docs). Empty when collectRouteMethods was not installed.
 */
export function declaredRoutes(fastify: FastifyInstance): { method: string; url: string }[] {
  return [...(routeTables.get(fastify) ?? [])].flatMap(([method, urls]) => urls.map((url) => ({ method, url })));
}

/**
 * The methods the app answers at the path of `req` (none when no route has that path). Run only on a 404.
 *
 * Each method is asked of the router itself (`findRoute` with the request's URL), so a path reads here exactly as it
 * does when a request is routed: percent-decoded (find-my-way's safeDecodeURI: `/v1/%63hat/completions` is
 * `/v1/chat/completions`, while `%2F` and the other reserved escapes stay as they are, within their segment), the
 * query and fragment left off, an absolute-form target reduced to its path, and the router's own options (case,
 * trailing slash, `maxParamLength`). The routes' patterns matched against the raw URL before: a `POST` to the encoded
 * path was routed (200), and a `GET` there answered 404 "Cannot GET" where the plain path answered 405.
 *
 * A URL the router refuses (a bad percent-encoding, a parameter over `maxParamLength`) is found too, as the router's
 * own error handler with no `searchParams` (find-my-way's `_onBadUrl` / `_onMaxParamLength`): that is no route, and
 * the request stays a 404 (a method with routes gets the router's own 400 / 404 before this).
 */
export function allowedMethodsOf(req: FastifyRequest): string[] {
  const table = routeTables.get(req.server);
  if (table === undefined) {
    return [];
  }
  return [...table.keys()].filter((method) => routed(req, method) !== null).sort();
}

/**
 * What the router finds for `method` at the URL of `req`: its parameters, or null for no route. A match with an empty
 * parameter (`/api/v1/ai/jobs/` as `:id` = '') is no route: Nest's Fastify adapter passes such a request to not-found
 * (`requireNonEmptyParams`; only the wildcard may be empty), so a 405 there would allow the very method refused.
 */
function routed(req: FastifyRequest, method: string): Record<string, unknown> | null {
  // Typed as always found; it answers null when no route of the method matches.
  const found = req.server.findRoute({ method, url: req.url }) as {
    params?: Record<string, unknown>;
    searchParams?: unknown;
  } | null;
  if (found === null || found.searchParams === undefined) {
    return null;
  }
  const params = found.params ?? {};
  return Object.entries(params).some(([name, value]) => name !== '*' && value === '') ? null : params;
}

/**
 * The route that `method` answers at the URL of `req`, as declared (`/api/v1/ai/jobs/:id`, `/v1/models/*`), for a
 * 405 to quote: nothing the client sent (a parameter, the query, an absolute-form target's user info) may carry a
 * secret into the answer, a log or a client's error report. Undefined when the method has no route there.
 *
 * The router does not say which of its routes it found (Fastify's findRoute keeps the route to itself), so the
 * declared paths of the method are matched against the path, segment by segment, as the router reads it
 * (`routerPath`), keeping the one whose parameters are the ones the router found; among several, the most specific
 * one (a fixed segment before a parameter before a wildcard), as find-my-way prefers. Only on a 405, never per request.
 */
export function declaredRouteOf(req: FastifyRequest, method: string): string | undefined {
  const params = routed(req, method);
  if (params === null) {
    return undefined;
  }
  const names = Object.keys(params).sort().join('/');
  const segments = routerPath(req.url).split('/').map(decodedSegment);
  const matches = (routeTables.get(req.server)?.get(method) ?? []).filter(
    (route) => paramNamesOf(route) === names && fits(route.split('/'), segments),
  );
  return matches.sort(bySpecificity)[0];
}

/**
 * The path of a URL as the router reads it, undecoded: an absolute-form target (`http://user:pw@host/x`) reduced to
 * its path, the query and the fragment left off (find-my-way's FULL_PATH_REGEXP and safeDecodeURI). What a 404 quotes.
 */
export function routerPath(url: string): string {
  const path = url.startsWith('/') ? url : url.replace(/^https?:\/\/[^/]*/, '');
  const end = path.search(/[?#]/);
  return end === -1 ? path : path.slice(0, end);
}

function decodedSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    // The router refuses a bad escape before any route; kept as is, it matches no fixed segment.
    return segment;
  }
}

/** The names of a declared path's parameters, sorted and joined (`*` for a wildcard), as findRoute's `params` has them. */
function paramNamesOf(route: string): string {
  return route
    .split('/')
    .filter((s) => s.startsWith(':') || s === '*')
    .map((s) => (s === '*' ? '*' : s.slice(1)))
    .sort()
    .join('/');
}

/** Whether the declared segments take the path's (decoded) ones: a parameter any non-empty one, `*` the rest. */
function fits(route: string[], path: string[]): boolean {
  for (let i = 0; i < route.length; i++) {
    if (route[i] === '*') {
      return i === route.length - 1;
    }
    if (i >= path.length) {
      return false;
    }
    const fixed = !route[i].startsWith(':');
    if (fixed ? route[i] !== path[i] : path[i] === '') {
      return false;
    }
  }
  return route.length === path.length;
}

/** A fixed segment before a parameter before a wildcard, at the first segment where two routes differ. */
function bySpecificity(a: string, b: string): number {
  const rank = (s: string | undefined): number => (s === '*' ? 2 : s?.startsWith(':') === true ? 1 : 0);
  const x = a.split('/');
  const y = b.split('/');
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const diff = rank(x[i]) - rank(y[i]);
    if (diff !== 0) {
      return diff;
    }
  }
  return 0;
}
