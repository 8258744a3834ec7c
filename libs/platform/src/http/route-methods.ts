import type { FastifyInstance, FastifyRequest } from 'fastify';

/** Each route pattern of an app, as a path test, with the methods it answers (for a 405's `Allow`). */
const routeMethods = new WeakMap<FastifyInstance, Map<string, { path: RegExp; methods: Set<string> }>>();

/** `/api/v1/ai/jobs/:id` → a test of a request's path (`:param` one segment, `*` the rest). */
function pathTest(url: string): RegExp {
  const source = url
    .split(/(:[A-Za-z0-9_]+|\*)/)
    .map((part) => (part === '*' ? '.*' : part.startsWith(':') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`);
}

/**
 * Collects the methods of every route the app registers, so that a request whose path exists with other methods
 * is told so (`405` with `Allow`, or `204` with `Allow` to `OPTIONS`) instead of `404`. Install before the routes.
 */
export function collectRouteMethods(fastify: FastifyInstance): void {
  const routes = new Map<string, { path: RegExp; methods: Set<string> }>();
  routeMethods.set(fastify, routes);
  fastify.addHook('onRoute', (route) => {
    let entry = routes.get(route.url);
    if (entry === undefined) {
      entry = { path: pathTest(route.url), methods: new Set() };
      routes.set(route.url, entry);
    }
    for (const method of Array.isArray(route.method) ? route.method : [route.method]) {
      entry.methods.add(method);
      if (method === 'GET' && route.exposeHeadRoute !== false) {
        entry.methods.add('HEAD');
      }
    }
  });
}

/** The methods the app answers at the path of `req` (none when no route has that path). Run only on a 404. */
export function allowedMethodsOf(req: FastifyRequest): string[] {
  const routes = routeMethods.get(req.server);
  if (routes === undefined) {
    return [];
  }
  const path = req.url.split('?', 1)[0];
  const allowed = new Set<string>();
  for (const { path: test, methods } of routes.values()) {
    if (test.test(path)) {
      methods.forEach((m) => allowed.add(m));
    }
  }
  return [...allowed].sort();
}
