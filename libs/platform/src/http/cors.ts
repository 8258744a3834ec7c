import type { OutgoingHttpHeaders } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { tagFrameworkErrors } from './framework-errors';

/** The origins browsers may call an app from: any (`*`), or these exact ones (as a browser writes `Origin`). */
export type CorsOrigins = '*' | ReadonlySet<string>;

/** What a CORS answer says besides its origin: the headers clients send and read, and how long a preflight holds. */
export interface CorsHeaders {
  /** Request headers a page may send (lower case), besides the CORS-safelisted ones. */
  allow: readonly string[];
  /** Response headers a page may read, besides the CORS-safelisted ones (Content-Type, Cache-Control, …). */
  expose: readonly string[];
  /** `Access-Control-Max-Age`, in seconds (Chromium caps it at 7200, Firefox at 86400). */
  maxAgeS: number;
}

/** The methods an app's routes take (a preflight asks about one of them). */
const ALLOW_METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE';

/**
 * One entry of CORS_ORIGINS, checked against what a browser sends in `Origin`: `scheme://host[:port]`, lower case,
 * without the scheme's default port, a path or a trailing slash. An entry written another way would never match, and
 * the browser would be refused for a reason nobody sees; it is refused at boot, naming the origin to write instead.
 */
function originProblem(entry: string): string | null {
  let url: URL;
  try {
    url = new URL(entry);
  } catch {
    return `'${entry}' is not an origin (scheme://host[:port])`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return `'${entry}' is not an http or https origin`;
  }
  if (url.origin !== entry) {
    const extra = url.pathname !== '/' || url.search !== '' || url.hash !== '' || url.username !== '';
    return extra
      ? `'${entry}' has more than scheme://host[:port] (a path, query or user): write ${url.origin}`
      : `'${entry}' is not written as browsers send it: write ${url.origin}`;
  }
  return null;
}

/**
 * CORS_ORIGINS read: null when empty (no CORS headers at all), `*` alone (any origin, without credentials), or a
 * comma-separated list of exact origins. Throws naming the variable and the entry.
 */
export function corsOriginsOf(value: string, variable = 'CORS_ORIGINS'): CorsOrigins | null {
  const trimmed = value.trim();
  if (trimmed === '') {
    return null;
  }
  if (trimmed === '*') {
    return '*';
  }
  const entries = trimmed.split(',').map((s) => s.trim());
  for (const entry of entries) {
    const problem = entry === '*' ? `'*' must be alone, not in a list of origins` : originProblem(entry);
    if (problem !== null) {
      throw new Error(
        `${variable} must be empty, * or a comma-separated list of origins (scheme://host[:port]): ${problem}`,
      );
    }
  }
  return new Set(entries);
}

/** One listed origin's CORS headers: of an answer, and of a preflight's. */
interface OriginHeaders {
  answer: OutgoingHttpHeaders;
  preflight: OutgoingHttpHeaders;
}

/** The headers of CORS answers, built once at install for each listed origin: a request picks its set by a lookup. */
class CorsPolicy {
  /** By listed origin (`*` when any): the headers of an answer, and of a preflight's. */
  private readonly answers = new Map<string, OriginHeaders>();
  /** What an answer to a request from an origin not listed (or without Origin) says. */
  private readonly refused: OutgoingHttpHeaders;

  constructor(
    private readonly origins: CorsOrigins,
    headers: CorsHeaders,
  ) {
    // The answer depends on Origin (the header is there for one origin, not for another): a cache must know. With
    // `*` it does not.
    const vary: OutgoingHttpHeaders = origins === '*' ? {} : { vary: 'Origin' };
    this.refused = vary;
    for (const origin of origins === '*' ? ['*'] : origins) {
      const allowed: OutgoingHttpHeaders = { ...vary, 'access-control-allow-origin': origin };
      if (origin !== '*') {
        // Not with `*`, which browsers refuse with credentials anyway.
        allowed['access-control-allow-credentials'] = 'true';
      }
      this.answers.set(origin, {
        answer: { ...allowed, 'access-control-expose-headers': headers.expose.join(', ') },
        preflight: {
          ...allowed,
          'access-control-allow-methods': ALLOW_METHODS,
          'access-control-allow-headers': headers.allow.join(', '),
          'access-control-max-age': String(headers.maxAgeS),
        },
      });
    }
  }

  /** The CORS headers of an answer to a request from `origin`: a shared object, not to be changed. */
  answerHeaders(origin: string | undefined): OutgoingHttpHeaders {
    return this.setFor(origin)?.answer ?? this.refused;
  }

  /**
   * The CORS headers of a preflight's answer from `origin`: a shared object, not to be changed. Null for an origin
   * not listed, answered as without CORS.
   */
  preflightHeaders(origin: string | undefined): OutgoingHttpHeaders | null {
    return this.setFor(origin)?.preflight ?? null;
  }

  private setFor(origin: string | undefined): OriginHeaders | undefined {
    return this.answers.get(this.origins === '*' ? '*' : (origin ?? ''));
  }
}

const NONE: OutgoingHttpHeaders = Object.freeze({});

/** Each app's policy, for the answers given outside Fastify (`answerExpectationFailed`). */
const policies = new WeakMap<FastifyInstance, CorsPolicy>();

/**
 * CORS for browsers on the listed origins (CORS_ORIGINS). `null` (the variable empty) registers nothing: no hook,
 * no header, no cost. Otherwise one `onRequest` hook, to install after the request id (its tag is on every answer,
 * the preflight's too) and before anything that may refuse a request early (a key check, admission): every answer
 * then carries the CORS headers, errors included, and the SSE head, which carries what the reply had. A preflight
 * (`OPTIONS` with `Access-Control-Request-Method`) from a listed origin is answered there, `204`, before any key is
 * asked for (a browser sends none on a preflight). A request from an origin not listed gets no
 * `Access-Control-Allow-Origin`, which the browser refuses to show the page; its preflight is answered as without
 * CORS. Cost per request: two header reads, one Map lookup and 1 to 4 header sets of
 * strings built at install (Fastify's `reply.headers` makes one array of their names).
 */
export function installCors(fastify: FastifyInstance, origins: CorsOrigins | null, headers: CorsHeaders): void {
  if (origins === null) {
    return;
  }
  const policy = new CorsPolicy(origins, headers);
  policies.set(fastify, policy);
  fastify.addHook('onRequest', (req, reply, done) => {
    const origin = req.headers.origin;
    if (req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined) {
      const preflight = policy.preflightHeaders(origin);
      if (preflight !== null) {
        void reply.headers(preflight).status(204).send();
        return;
      }
    }
    void reply.headers(policy.answerHeaders(origin));
    done();
  });
  // The router's own refusals (a path parameter too long) come before any hook: they get the headers all the same.
  tagFrameworkErrors(fastify, (req, reply) => void reply.headers(policy.answerHeaders(req.headers.origin)));
}

/** The CORS headers of an answer given outside Fastify's hooks to a request from `origin` (none without CORS). */
export function corsHeadersOf(fastify: FastifyInstance, origin: string | undefined): OutgoingHttpHeaders {
  return policies.get(fastify)?.answerHeaders(origin) ?? NONE;
}
