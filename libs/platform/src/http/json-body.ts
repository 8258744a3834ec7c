import { ErrorCode, GatewayError } from '@aigw/core';
import type { FastifyInstance } from 'fastify';
import { sendError } from './errors';

/** Oversized bodies up to this many times the limit are read and discarded before the 413 (see below). */
const DRAIN_FACTOR = 8;

/**
 * Answers a body declared larger than the limit with 413 once the client has finished sending it. Fastify
 * answers at once and closes the connection, and a client still writing its body then fails on a reset
 * socket (EPIPE) without ever reading the 413: an SDK reports a network error instead of "too large".
 * Draining costs reading the bytes, so it stops at DRAIN_FACTOR times the limit; past that the early answer
 * and close stand.
 */
export function installOversizeAnswer(fastify: FastifyInstance, limitBytes: number): void {
  fastify.addHook('onRequest', (req, reply, done) => {
    const declared = Number(req.headers['content-length']);
    if (!(declared > limitBytes) || declared > limitBytes * DRAIN_FACTOR) {
      done();
      return;
    }
    const tooLarge = new GatewayError(ErrorCode.PayloadTooLarge, 'Request body is too large.');
    const answer = (): void => {
      if (!reply.sent) {
        sendError(reply, tooLarge);
      }
    };
    req.raw.once('end', answer);
    req.raw.once('error', answer);
    req.raw.resume();
  });
}

/** Drops `__proto__` keys so a parsed body can never carry a prototype into code that merges objects. */
function withoutProto(key: string, value: unknown): unknown {
  return key === '__proto__' ? undefined : value;
}

/**
 * Parses JSON bodies ourselves so that a bad body fails as `invalid_json` in the one error envelope:
 * Nest's Fastify error layer would otherwise turn Fastify's parse error into an anonymous 400. The slow,
 * prototype-safe path runs only when the text mentions `__proto__` (it may, legitimately, inside a
 * message about JavaScript). Size limits stay Fastify's (413 before parsing). Any other content type, text/plain
 * included, is a 415 (`unsupported_media_type`), unless an app adds its own parser (the config import's YAML).
 */
export function installJsonParser(fastify: FastifyInstance): void {
  // Fastify's default text/plain parser too: a body typed as text is not application/json (415), not a string body.
  fastify.removeContentTypeParser(['application/json', 'text/plain']);
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = body as string;
    if (text.length === 0) {
      // No body at all (a bodiless POST from a client that still sets the header): routes that need one say so in validation.
      done(null, undefined);
      return;
    }
    try {
      done(null, text.includes('__proto__') ? JSON.parse(text, withoutProto) : JSON.parse(text));
    } catch (err) {
      const detail = err instanceof SyntaxError ? `: ${err.message}` : '';
      done(
        new GatewayError(ErrorCode.InvalidJson, `Request body is not valid JSON${detail}`, { cause: err }),
        undefined,
      );
    }
  });
}
