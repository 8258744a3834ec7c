import { ErrorCode, GatewayError } from '@aigw/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { StreamSink } from '../generation/stream-relay';
import { jobIdFor, type AuthContext } from './request-context';
import { FastifySseSink } from './sse-sink';

/**
 * The caller of one request, as the generation pipeline sees it: who it is, what it sent, and how to answer.
 * The pipeline never touches HTTP objects; a controller builds this from Fastify's request and reply.
 */
export interface Client {
  readonly caller: AuthContext;
  /** The request's id (`x-request-id`, the client's when it sent one)... */
  readonly requestId: string;
  /** ...and a safe job id for it: the same id, or a fresh one when the client chose it (see `jobIdFor`). */
  readonly jobId: string;
  /** `performance.now()` when the request arrived (request duration metrics). */
  readonly startedAt: number;
  /** The body as received, before DTO transformation (Idempotency-Key fingerprint). */
  readonly body: unknown;
  /** A request header the gateway reads (lower-case name); a `400` naming it when the client sent it more than once. */
  header(name: string): string | undefined;
  /** Adds headers to whatever answer goes out: a result, an error or a stream. */
  setHeaders(headers: Record<string, string>): void;
  /** Runs `cb` once if the client goes away before its answer is complete. */
  onGone(cb: () => void): void;
  /** The SSE stream to the client (opened when the first event is written). */
  sse(): StreamSink;
}

/** How the errors of the other header checks name a header (`x-gateway-*` as they are). */
const PARAM_NAMES: Readonly<Record<string, string>> = { 'idempotency-key': 'Idempotency-Key' };

export function fastifyClient(req: FastifyRequest, reply: FastifyReply): Client {
  const caller = req.auth;
  if (caller === null) {
    // The global guard sets it on every route that gets here.
    throw new GatewayError(ErrorCode.InvalidApiKey, 'Missing API key.');
  }
  return {
    caller,
    requestId: req.requestId,
    jobId: jobIdFor(req),
    startedAt: req.startedAt,
    body: req.body,
    header: (name) => {
      const v = req.headers[name];
      if (typeof v !== 'string') {
        return undefined;
      }
      // Node joins a repeated header into one value ("a1, a2"), which would pass as one Idempotency-Key or policy.
      if (v.includes(',') && (req.raw.headersDistinct[name]?.length ?? 0) > 1) {
        throw new GatewayError(ErrorCode.InvalidRequest, `The ${name} header was sent more than once: send it once.`, {
          param: PARAM_NAMES[name] ?? name,
        });
      }
      return v;
    },
    setHeaders: (headers) => void reply.headers(headers),
    onGone: (cb) => {
      const raw = reply.raw;
      raw.once('close', () => {
        if (!raw.writableFinished) {
          cb();
        }
      });
    },
    sse: () => new FastifySseSink(reply),
  };
}
