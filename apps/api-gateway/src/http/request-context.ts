import type { CallerPolicy } from '@aigw/core';
import { newRequestId } from '@aigw/core';
import { ANTHROPIC_REQUEST_ID_HEADER, speaksAnthropic, tagFrameworkErrors } from '@aigw/platform';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Who is calling, as the API-key guard established it. */
export interface AuthContext {
  userId: string;
  apiKeyId: string;
  /** The key's visible prefix: with the id, how audit entries name who acted. */
  keyPrefix?: string;
  role: 'user' | 'admin';
  /** Restrictions and resolved limits of the key (see CallerPolicy); cached with the key. */
  policy: CallerPolicy;
  /** The user's model preferences in one string (see `ActiveApiKey.preferences`); absent or null: none. */
  preferences?: string | null;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Echoed as `x-request-id` on every response (the client's when it sent a valid one). */
    requestId: string;
    /** True when `requestId` came from the client: then it must not become a job id (see `jobIdFor`). */
    clientRequestId: boolean;
    /** `performance.now()` when the request arrived, for latency and overhead metrics. */
    startedAt: number;
    /** Set by the API-key guard; null on public routes. */
    auth: AuthContext | null;
  }
}

const CLIENT_REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

export function acceptRequestId(header: string | string[] | undefined): string | null {
  return typeof header === 'string' && CLIENT_REQUEST_ID.test(header) ? header : null;
}

/**
 * Request-scoped fields and the `x-request-id` echo. Runs in `onRequest`, before body parsing, so
 * even a malformed body or an unknown route gets its id back. Routes that speak Anthropic's API also say it in
 * `request-id`, where @anthropic-ai/sdk reads it (`_request_id`, `requestID`): answers, streams and errors alike.
 */
export function installRequestContext(fastify: FastifyInstance): void {
  fastify.decorateRequest('requestId', '');
  fastify.decorateRequest('clientRequestId', false);
  fastify.decorateRequest('startedAt', 0);
  fastify.decorateRequest('auth', null);
  fastify.addHook('onRequest', (req: FastifyRequest, reply: FastifyReply, done: () => void) => {
    identify(req, reply);
    done();
  });
  // The router's own refusals (a path parameter too long) come before any hook: they get their id all the same.
  tagFrameworkErrors(fastify, identify);
}

function identify(req: FastifyRequest, reply: FastifyReply): void {
  req.startedAt = performance.now();
  const fromClient = acceptRequestId(req.headers['x-request-id']);
  req.clientRequestId = fromClient !== null;
  req.requestId = fromClient ?? newRequestId();
  void reply.header('x-request-id', req.requestId);
  if (speaksAnthropic(reply)) {
    void reply.header(ANTHROPIC_REQUEST_ID_HEADER, req.requestId);
  }
}

/**
 * When `req` arrived, on the wall clock (Date.now()): what REQUEST_TIMEOUT_MS counts from, the key lookup and
 * everything else before the handler included. `startedAt` is on the monotonic clock, so the time since is too.
 */
export function receivedAtOf(req: FastifyRequest): number {
  return arrivedAt(req.startedAt);
}

/**
 * The wall-clock time (whole epoch ms) of a request that arrived at `startedAt` (`performance.now()`, taken in
 * `identify`).
 */
export function arrivedAt(startedAt: number): number {
  return Math.floor(Date.now() - (performance.now() - startedAt));
}

/**
 * The id of the job a request creates. A client-chosen x-request-id must never become a job id: a
 * second request with the same id (by mistake, or another user on purpose) would attach to the first
 * one's job and could read its answer. So a fresh id is minted then; otherwise the echoed id is used,
 * which keeps `x-request-id` equal to the usage record's request id.
 */
export function jobIdFor(req: FastifyRequest): string {
  return req.clientRequestId ? newRequestId() : req.requestId;
}
