import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { sendError } from './errors';

/** What an app's `onRequest` hooks put on every answer (the request id), done for an answer given before them. */
export type EarlyTag = (req: FastifyRequest, reply: FastifyReply) => void;

const tags = new WeakMap<FastifyInstance, EarlyTag>();

/** Registers what `answerFrameworkError` does first, as the app's `onRequest` hook would have done. */
export function tagFrameworkErrors(fastify: FastifyInstance, tag: EarlyTag): void {
  tags.set(fastify, tag);
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
