import type { FastifyInstance, FastifyRequest } from 'fastify';

/** The methods some route of an app answers (the candidates for a 405's `Allow`). */
const routeMethods = new WeakMap<FastifyInstance, Set<string>>();

/**
 * Collects the methods the app's routes answer, so that a request whose path exists with other methods is told so
 * (`405` with `Allow`, or `204` with `Allow` to `OPTIONS`) instead of `404`. Install before the routes.
 */
export function collectRouteMethods(fastify: FastifyInstance): void {
  const methods = new Set<string>();
  routeMethods.set(fastify, methods);
  fastify.addHook('onRoute', (route) => {
    for (const method of Array.isArray(route.method) ? route.method : [route.method]) {
      methods.add(method);
      if (method === 'GET' && route.exposeHeadRoute !== false) {
        methods.add('HEAD');
      }
    }
  });
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
  const methods = routeMethods.get(req.server);
  if (methods === undefined) {
    return [];
  }
  const allowed: string[] = [];
  for (const method of methods) {
    // Typed as always found; it answers null when no route of the method matches.
    const found = req.server.findRoute({ method, url: req.url }) as {
      searchParams?: unknown;
    } | null;
    if (found !== null && found.searchParams !== undefined) {
      allowed.push(method);
    }
  }
  return allowed.sort();
}
