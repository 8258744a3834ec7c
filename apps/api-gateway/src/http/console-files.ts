import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { ErrorCode, GatewayError } from '@aigw/core';
import type { FastifyInstance, FastifyReply } from 'fastify';

/** Where the web console is served; the SPA's own links are relative to it. */
export const CONSOLE_PATH = '/console';

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
  '.ico': 'image/x-icon',
  '.png': 'image/png',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * The console talks only to this origin; no inline script. Inline style *attributes* are not used either:
 * Preact sets styles through the CSSOM, which `style-src 'self'` allows.
 */
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; " +
  "font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

interface ConsoleFile {
  body: Buffer;
  type: string;
  /** Vite names built assets by content hash: cacheable forever; index.html never. */
  immutable: boolean;
}

/** The built console (a few hundred kB), read once at startup: serving it costs no disk access per request. */
export function readConsoleFiles(dir: string): Map<string, ConsoleFile> {
  const files = new Map<string, ConsoleFile>();
  const walk = (rel: string): void => {
    for (const name of readdirSync(path.join(dir, rel))) {
      const relPath = rel === '' ? name : `${rel}/${name}`;
      const abs = path.join(dir, relPath);
      if (statSync(abs).isDirectory()) {
        walk(relPath);
      } else {
        files.set(relPath, {
          body: readFileSync(abs),
          type: TYPES[path.extname(name)] ?? 'application/octet-stream',
          immutable: relPath.startsWith('assets/'),
        });
      }
    }
  };
  walk('');
  return files;
}

/** dist/console beside the compiled gateway, or the repository's dist/console when run from source (tests). */
export function defaultConsoleDir(): string | null {
  const candidates = [
    path.resolve(__dirname, '../../../../console'),
    path.resolve(__dirname, '../../../../dist/console'),
  ];
  return candidates.find((d) => existsSync(path.join(d, 'index.html'))) ?? null;
}

/**
 * `GET /console/*` as plain Fastify routes (outside Nest: no API key, the page signs in with one). Paths without
 * a file fall back to index.html (the SPA routes itself); a missing asset is a 404 in the error envelope.
 */
export function installConsole(fastify: FastifyInstance, dir: string | null): void {
  const files = dir === null ? new Map<string, ConsoleFile>() : readConsoleFiles(dir);
  const index = files.get('index.html');
  const send = (reply: FastifyReply, file: ConsoleFile): FastifyReply =>
    reply
      .header('content-type', file.type)
      .header('cache-control', file.immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
      .header('content-security-policy', CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .send(file.body);
  const notFound = (reply: FastifyReply, message: string): FastifyReply => {
    const err = new GatewayError(ErrorCode.NotFound, message);
    return reply.status(err.status).send({ error: err.toBody() });
  };

  fastify.get(CONSOLE_PATH, (_req, reply) => reply.redirect(`${CONSOLE_PATH}/`, 302));
  fastify.get(`${CONSOLE_PATH}/*`, (req, reply) => {
    if (index === undefined) {
      return notFound(reply, 'The web console is not built: run `npm run build`.');
    }
    const rel = (req.params as { '*': string })['*'];
    const file = files.get(rel);
    if (file !== undefined) {
      return send(reply, file);
    }
    // A client-side route (no extension) gets the app; a missing asset must not get HTML back.
    return path.extname(rel) === '' ? send(reply, index) : notFound(reply, `No console file '${rel}'.`);
  });
}
