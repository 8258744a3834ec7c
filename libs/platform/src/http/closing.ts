import { ErrorCode, GatewayError } from '@aigw/core';
import type { FastifyInstance } from 'fastify';
import { sendError } from './errors';

declare module 'fastify' {
  interface FastifyInstance {
    /** True once the server began to close (see `installClosingAnswer`); read by replies that write their own head. */
    closing: boolean;
  }
}

/** How soon a client may send again what a closing server refused: at once, to another replica behind the balancer. */
const CLOSING_RETRY_AFTER_MS = 1_000;

/**
 * Answers a request that arrives while the server closes (on a connection opened before: new connections are no
 * longer accepted) in the error envelope, `service_unavailable` with Retry-After, on its route's shape (Anthropic's on
 * its routes), with the app's own headers (the request id), and `connection: close`, so that the client's next
 * request opens a connection to another replica. It stands in for Fastify's `return503OnClosing`, whose bare 503
 * (`{"error":"Service Unavailable",...}`) no hook could reshape. Fastify flags its routes as closing just before
 * running `preClose`; the flag here follows at the same point.
 *
 * An answer to a request that was in flight when the close began says `connection: close` too: kept alive, its
 * connection would be closed as soon as it is idle (by `server.close()` or the app's `ConnectionDrainer`), and a
 * request the client sent on it in that instant would fail on a reset connection (ECONNRESET), unanswered. Replies
 * that write their own head (hijacked SSE streams) read `fastify.closing` for the same. While open, a request pays
 * two boolean checks.
 */
export function installClosingAnswer(fastify: FastifyInstance): void {
  fastify.decorate('closing', false);
  fastify.addHook('preClose', (done) => {
    fastify.closing = true;
    done();
  });
  fastify.addHook('onRequest', (_req, reply, done) => {
    if (!fastify.closing) {
      done();
      return;
    }
    const refused = new GatewayError(ErrorCode.ServiceUnavailable, 'The server is shutting down; retry the request.', {
      retryAfterMs: CLOSING_RETRY_AFTER_MS,
      retry: true,
    });
    // `connection: close` comes from the onSend hook below.
    sendError(reply, refused);
  });
  fastify.addHook('onSend', (_req, reply, payload, done) => {
    if (fastify.closing) {
      void reply.header('connection', 'close');
    }
    done(null, payload);
  });
}
