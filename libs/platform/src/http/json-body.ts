import { ErrorCode, GatewayError } from '@aigw/core';
import type { FastifyInstance } from 'fastify';

/** Drops `__proto__` keys so a parsed body can never carry a prototype into code that merges objects. */
function withoutProto(key: string, value: unknown): unknown {
  return key === '__proto__' ? undefined : value;
}

/**
 * Parses JSON bodies ourselves so that a bad body fails as `invalid_json` in the one error envelope:
 * Nest's Fastify error layer would otherwise turn Fastify's parse error into an anonymous 400. The slow,
 * prototype-safe path runs only when the text mentions `__proto__` (it may, legitimately, inside a
 * message about JavaScript). Size limits stay Fastify's (413 before parsing).
 */
export function installJsonParser(fastify: FastifyInstance): void {
  fastify.removeContentTypeParser(['application/json']);
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
