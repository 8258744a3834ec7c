import { STATUS_CODES, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { anthropicErrorBody, ErrorCode, GatewayError, newRequestId } from '@aigw/core';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ANTHROPIC_PATH, sendError } from './errors';

/** What an app's `onRequest` hooks put on every answer (the request id), done for an answer given before them. */
export type EarlyTag = (req: FastifyRequest, reply: FastifyReply) => void;

const tags = new WeakMap<FastifyInstance, EarlyTag>();

/**
 * Registers what `answerFrameworkError` does first, as the app's `onRequest` hook would have done; tags registered
 * later run after the earlier ones (the request id first, then what reads it).
 */
export function tagFrameworkErrors(fastify: FastifyInstance, tag: EarlyTag): void {
  const before = tags.get(fastify);
  tags.set(
    fastify,
    before === undefined
      ? tag
      : (req, reply) => {
          before(req, reply);
          tag(req, reply);
        },
  );
}

/**
 * Fastify's `frameworkErrors`: what its router refuses before any hook runs (a path parameter over `maxParamLength`,
 * a malformed percent-encoding), answered in the error envelope with the app's own tags (the request id) instead of
 * Fastify's bare `{"error":"Bad Request","code":"FST_ERR_…"}`. `toGatewayError` says which error it is.
 */
export function answerFrameworkError(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  tags.get(req.server)?.(req, reply);
  sendError(reply, err);
}

/** 431 for headers over Node's limit (`maxHeaderSize`), 408 for a request that never finished arriving, else 400. */
function clientErrorOf(code: string | undefined): { status: number; message: string } {
  if (code === 'HPE_HEADER_OVERFLOW') {
    return { status: 431, message: 'The request headers are larger than this server accepts.' };
  }
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return { status: 408, message: 'The request did not arrive in time.' };
  }
  return { status: 400, message: 'The request is not valid HTTP.' };
}

/** The first `Origin` header line in the bytes of a request head (field names are case-insensitive). */
const ORIGIN_LINE = /\r\norigin:[ \t]*([^\r\n]*?)[ \t]*\r\n/i;

/**
 * The `Origin` a request the parser refused carried, as far as the bytes it was reading when it gave up show it
 * (`rawPacket`: the chunk of one socket read). A head sent in one write usually arrives in one read, the Origin with
 * it whether it came before or after the header that overflowed; one that came in an earlier read is gone (Node
 * keeps no earlier bytes), and so is an Origin the parser never reached. Only ever looked up among the origins
 * CORS_ORIGINS lists, never echoed.
 */
function originOf(err: NodeJS.ErrnoException): string | undefined {
  const raw = (err as { rawPacket?: unknown }).rawPacket;
  return Buffer.isBuffer(raw) ? ORIGIN_LINE.exec(raw.toString('latin1'))?.[1] : undefined;
}

/** The header lines of `headers`, each ending in CRLF (the app's own strings, built at install). */
function headerLines(headers: OutgoingHttpHeaders): string {
  let lines = '';
  for (const [name, value] of Object.entries(headers)) {
    lines += `${name}: ${String(value)}\r\n`;
  }
  return lines;
}

/**
 * Fastify's `clientErrorHandler`: what Node's HTTP parser refuses before Fastify sees a request (headers over the
 * limit, a malformed request line or header), answered in the error envelope instead of Fastify's bare
 * `{"error":"Bad Request","message":"Client Error","statusCode":400}`. There is no request to tag or route, so it is
 * written on the socket, which then closes, as Node's own answer does, with a fresh `x-request-id` as every answer.
 * `cors`: the app's CORS headers for an origin (`corsHeadersOf`), so that a page on a listed origin can read the
 * error (a 431 for its cookies, say); the origin is read from the refused bytes (`originOf`), best effort.
 */
export function answerClientError(
  err: NodeJS.ErrnoException,
  socket: Duplex,
  cors?: (origin: string | undefined) => OutgoingHttpHeaders,
): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) {
    return;
  }
  if (socket.writable) {
    const { status, message } = clientErrorOf(err.code);
    const body = JSON.stringify({ error: new GatewayError(ErrorCode.InvalidRequest, message).toBody() });
    // A fresh id (what the client sent in a header cannot be trusted: the parser refused it), as every answer has one.
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `x-request-id: ${newRequestId()}\r\n${cors === undefined ? '' : headerLines(cors(originOf(err)))}` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}

/**
 * Node's answer to an `Expect` other than `100-continue` (which it answers itself): a 417 in the error envelope (the
 * Anthropic shape under Anthropic's paths) with an `x-request-id`, instead of Node's bare 417 with an empty body.
 * Node reads no route for it, nor the body, which it discards after the answer. `extra`: the app's CORS headers for
 * the request (`corsHeadersOf`), as a page on another origin reads this error too.
 */
export function answerExpectationFailed(
  req: IncomingMessage,
  res: ServerResponse,
  extra: OutgoingHttpHeaders = {},
): void {
  const error = new GatewayError(
    ErrorCode.InvalidRequest,
    `Expect: ${String(req.headers.expect).slice(0, 64)} is not supported; only 100-continue is.`,
    { param: 'Expect' },
  ).toBody();
  const body = JSON.stringify(ANTHROPIC_PATH.test(req.url ?? '') ? anthropicErrorBody(error) : { error });
  res.writeHead(417, {
    ...extra,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'x-request-id': newRequestId(),
  });
  res.end(body);
}
