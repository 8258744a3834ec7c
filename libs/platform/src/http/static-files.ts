import { createReadStream, statSync } from 'node:fs';
import path from 'node:path';
import { ErrorCode, GatewayError } from '@aigw/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { sendError } from './errors';
import { routerPath } from './route-methods';

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

export interface StaticFilesOptions {
  /** URL prefix without a trailing slash, e.g. `/docs/assets`. */
  prefix: string;
  /** Directory served; nothing outside it is ever read. */
  root: string;
  /** `Cache-Control` of the files (default: an hour). */
  cacheControl?: string;
  /** Runs before a file is served (e.g. an auth check); may send the reply itself. */
  onRequest?: (req: FastifyRequest, reply: FastifyReply) => Promise<void> | void;
}

/**
 * Serves the files of one directory under a URL prefix: GET and HEAD, content type by extension, 404 for
 * anything missing, a directory, or a path that would leave `root`. Small on purpose: the docs and the
 * queue board ship fixed asset folders, and the static plugin that Fastify 5 pairs with loads an ES module
 * the test runner cannot.
 */
export function serveStaticFiles(fastify: FastifyInstance, opts: StaticFilesOptions): void {
  const root = path.resolve(opts.root);
  fastify.route({
    method: ['GET', 'HEAD'],
    url: `${opts.prefix}/*`,
    ...(opts.onRequest ? { onRequest: opts.onRequest } : {}),
    handler: (req, reply) => {
      // The path alone, as the router's 404 says it: never the query (where a key sent in the wrong place lands) or an
      // absolute-form target's authority (`http://user:key@host/...`).
      const notFound = (): void =>
        sendError(reply, new GatewayError(ErrorCode.NotFound, `No file at ${routerPath(req.url)}.`));
      const rel = (req.params as { '*': string })['*'];
      const file = path.resolve(root, decodeURIComponent(rel));
      if (!file.startsWith(`${root}${path.sep}`)) {
        return notFound();
      }
      let size: number;
      try {
        const stat = statSync(file);
        if (!stat.isFile()) {
          return notFound();
        }
        size = stat.size;
      } catch {
        return notFound();
      }
      reply
        .header('content-type', TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream')
        .header('content-length', size)
        .header('cache-control', opts.cacheControl ?? 'public, max-age=3600')
        .header('x-content-type-options', 'nosniff');
      return req.method === 'HEAD' ? reply.send() : reply.send(createReadStream(file));
    },
  });
}
