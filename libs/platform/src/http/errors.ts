import { ArgumentsHost, Catch, HttpException, Logger, type ExceptionFilter } from '@nestjs/common';
import { anthropicErrorBody, ErrorCode, GatewayError, retryHintOf } from '@aigw/core';
import { databaseUnavailable, describeDatabaseError } from '@aigw/entities';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { isRedisUnreachable } from '../redis/redis-unreachable';
import { allowedMethodsOf, declaredRouteOf, routerPath } from './route-methods';

/**
 * 404 not_found for a path parameter over MAX_PARAM_LENGTH: the router's refusal (toGatewayError), and a route
 * whose parameter is the rest of the path (`*`), which the router does not measure, answers the same.
 */
export function pathSegmentTooLong(cause?: unknown): GatewayError {
  return new GatewayError(ErrorCode.NotFound, 'Nothing here has a path segment that long.', { cause });
}

/** Maps anything thrown to the one error envelope `{"error": {message, type, code, param}}`. */
export function toGatewayError(err: unknown, url?: string): GatewayError {
  if (err instanceof GatewayError) {
    return err;
  }
  if (err instanceof HttpException) {
    const status = err.getStatus();
    if (status === 415) {
      return unsupportedMediaType(err, url);
    }
    const code = codeForStatus(status);
    const response = err.getResponse();
    const message =
      typeof response === 'object' && response !== null && 'message' in response
        ? String(response.message)
        : err.message;
    return new GatewayError(code, message, { cause: err });
  }
  const fastifyErr = err as Partial<FastifyError> | null;
  if (fastifyErr && typeof fastifyErr.code === 'string' && fastifyErr.code.startsWith('FST_')) {
    switch (fastifyErr.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return new GatewayError(ErrorCode.PayloadTooLarge, 'Request body is too large.', { cause: err });
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return unsupportedMediaType(err, url);
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
        return new GatewayError(ErrorCode.InvalidJson, 'Request body is empty; a JSON object is required.', {
          cause: err,
        });
      case 'FST_ERR_CTP_INVALID_JSON_BODY':
        return new GatewayError(ErrorCode.InvalidJson, 'Request body is not valid JSON.', { cause: err });
      // The router's, before any route (answerFrameworkError). Fastify's own answer for a long one is a 414, but
      // nothing has an id that long (ids and model names are far shorter, percent-encoded included): not found.
      case 'FST_ERR_MAX_PARAM_LENGTH':
        return pathSegmentTooLong(err);
      case 'FST_ERR_BAD_URL':
        return new GatewayError(ErrorCode.InvalidRequest, 'The URL is not valid: a bad percent-encoding.', {
          cause: err,
        });
      default:
        break;
    }
    if (fastifyErr.statusCode === 400 || (fastifyErr as { status?: number }).status === 400) {
      return new GatewayError(ErrorCode.InvalidJson, 'Request body is not valid JSON.', { cause: err });
    }
  }
  if (err instanceof SyntaxError) {
    return new GatewayError(ErrorCode.InvalidJson, 'Request body is not valid JSON.', { cause: err });
  }
  if (isRedisUnreachable(err)) {
    // A route that reads Redis without its own answer for an outage (the usage report's quota counters, ...):
    // the client is told to retry, as the routes that have one tell it, not that the gateway broke. Checked before
    // the database's, whose codes (ECONNREFUSED, ...) a Redis connection error also has.
    redisOutageLog.report(err);
    return new GatewayError(ErrorCode.ServiceUnavailable, 'Redis is unavailable; retry shortly.', {
      retryAfterMs: 1_000,
      cause: err,
    });
  }
  if (databaseUnavailable(err)) {
    // Reported here, where the error is known to be the database's: a 503 of ours may wrap a Redis error whose
    // code (ECONNREFUSED, ...) would read the same in sendError.
    databaseOutageLog.report(err);
    return new GatewayError(ErrorCode.ServiceUnavailable, 'The database is unavailable; retry shortly.', {
      retryAfterMs: DATABASE_RETRY_AFTER_MS,
      cause: err,
    });
  }
  return new GatewayError(ErrorCode.Internal, 'Internal error.', { cause: err });
}

/**
 * Whether the client's connection closed before its body had arrived: reading it then fails with Node's `aborted`
 * (code ECONNRESET), which read as a store's socket error (a PostgreSQL outage logged, and its next real one not).
 */
function bodyBrokenOff(reply: FastifyReply, err: unknown): boolean {
  const raw = (reply.request as FastifyRequest | undefined)?.raw;
  if (raw === undefined || !raw.destroyed || raw.complete) {
    return false;
  }
  // Only the read's own failure: another error met meanwhile (a hook's, a store's) keeps its meaning and its log line.
  const e = err as NodeJS.ErrnoException | null;
  return e?.code === 'ECONNRESET' || e?.message === 'aborted';
}

function bodyNotReceived(cause: unknown): GatewayError {
  return new GatewayError(ErrorCode.InvalidRequest, 'The connection closed before the request body arrived.', {
    cause,
  });
}

/** What a client that met a PostgreSQL outage is told to wait (Retry-After). */
const DATABASE_RETRY_AFTER_MS = 5_000;

/** Routes that take more than JSON (see acceptMediaTypes): the path, and the media types its 415 names. */
const otherMediaTypes: { path: RegExp; accepted: string }[] = [];

/**
 * Makes a 415 of requests whose path matches `path` name `accepted` (e.g. `application/json or YAML (...)`) instead
 * of JSON alone: the config import takes YAML too, and its 415 said JSON only.
 */
export function acceptMediaTypes(path: RegExp, accepted: string): void {
  // Each app boot registers again (tests boot many in one process): one entry per path.
  const known = otherMediaTypes.find((r) => r.path.source === path.source);
  if (known === undefined) {
    otherMediaTypes.push({ path, accepted });
  } else {
    known.accepted = accepted;
  }
}

function unsupportedMediaType(cause: unknown, url?: string): GatewayError {
  const accepted = (url === undefined ? undefined : otherMediaTypes.find((r) => r.path.test(url)))?.accepted;
  return new GatewayError(ErrorCode.UnsupportedMediaType, `Content-Type must be ${accepted ?? 'application/json'}.`, {
    cause,
  });
}

function codeForStatus(status: number): ErrorCode {
  switch (status) {
    case 400:
      return ErrorCode.InvalidRequest;
    case 401:
      return ErrorCode.InvalidApiKey;
    case 403:
      return ErrorCode.PermissionDenied;
    case 404:
      return ErrorCode.NotFound;
    case 409:
      return ErrorCode.IdempotencyConflict;
    case 413:
      return ErrorCode.PayloadTooLarge;
    case 429:
      return ErrorCode.RateLimited;
    case 503:
      return ErrorCode.ServiceUnavailable;
    case 504:
      return ErrorCode.Timeout;
    default:
      return status >= 500 ? ErrorCode.Internal : ErrorCode.InvalidRequest;
  }
}

const logger = new Logger('Errors');

/** Quiet spell after which a store's failure is logged again: one line per outage, not one per request. */
const OUTAGE_LOG_QUIET_MS = 30_000;

/** One warning when requests start failing for a store, then silence until it has answered for a while. */
function outageLog(store: string, describe: (err: unknown) => string): { report(err: unknown): void } {
  let lastAt = -Infinity;
  return {
    report(err: unknown): void {
      const now = Date.now();
      if (now - lastAt >= OUTAGE_LOG_QUIET_MS) {
        logger.warn(`${store} unavailable (${describe(err)}); answering 503 until it is back`);
      }
      lastAt = now;
    },
  };
}

// pg's and ioredis's messages name an address and a code, never the URL's credentials.
const databaseOutageLog = outageLog('PostgreSQL', describeDatabaseError);
const redisOutageLog = outageLog('Redis', (err) => (err instanceof Error ? err.message : 'error'));

/**
 * Route config (`@RouteConfig(ANTHROPIC_ERRORS)`) of routes that speak Anthropic's API: their errors, Fastify's own
 * (bad JSON, 413) included, are written in Anthropic's shape. Routing happens before body parsing, so the config
 * is known for every error of such a route.
 */
export const ANTHROPIC_ERRORS = { errorShape: 'anthropic' } as const;

/** Where Anthropic's API, and so its SDK (`_request_id`, `requestID`), puts the request id: `x-request-id`'s value. */
export const ANTHROPIC_REQUEST_ID_HEADER = 'request-id';

/** Whether the reply's route speaks Anthropic's API (`@RouteConfig(ANTHROPIC_ERRORS)`): its errors, `request-id`. */
export function speaksAnthropic(reply: FastifyReply): boolean {
  const request = reply.request as FastifyRequest | undefined;
  const config = (request?.routeOptions?.config ?? {}) as { errorShape?: string };
  if (config.errorShape === ANTHROPIC_ERRORS.errorShape) {
    return true;
  }
  // `/v1/models` is both APIs': Anthropic's SDKs, which always send `anthropic-version`, are answered in theirs.
  if (request !== undefined && isAnthropicModelsRequest(request)) {
    return true;
  }
  // A request under Anthropic's paths that no route matched (another method, a path that is not there) has no route
  // config; its client is Anthropic's all the same.
  return request?.is404 === true && ANTHROPIC_PATH.test(request.url);
}

/** `GET /v1/models[/{id}]`, a query or not: OpenAI's and Anthropic's Models APIs share the path. */
export const MODELS_PATH = /^\/v1\/models(?:[/?]|$)/;

/**
 * A request to the models list or a model of it from an Anthropic client: one that sends `anthropic-version`, which
 * Anthropic's SDKs send with every request and OpenAI's never do. Answered in Anthropic's shape, errors included.
 */
export function isAnthropicModelsRequest(request: FastifyRequest): boolean {
  // Headers may be missing from a request the framework refused before parsing it.
  const headers = request.headers as FastifyRequest['headers'] | undefined;
  return headers?.['anthropic-version'] !== undefined && MODELS_PATH.test(request.url);
}

/** The paths of Anthropic's API (`/v1/messages`, `/v1/messages/count_tokens`, a query or not). */
export const ANTHROPIC_PATH = /^\/v1\/messages(?:[/?]|$)/;

/** Writes a GatewayError as HTTP; unexpected errors are logged (without request bodies or headers). */
export function sendError(reply: FastifyReply, err: unknown, requestId?: string): void {
  // The request may be missing from a reply the framework refused before routing it.
  const url = (reply.request as FastifyReply['request'] | undefined)?.url;
  const gw = bodyBrokenOff(reply, err) ? bodyNotReceived(err) : toGatewayError(err, url);
  if (gw.code === ErrorCode.Internal) {
    logger.error(`unhandled error${requestId ? ` (request ${requestId})` : ''}: ${describeError(err)}`);
  }
  if (gw.retryAfterMs !== undefined) {
    void reply.header('retry-after', String(Math.max(1, Math.ceil(gw.retryAfterMs / 1000))));
  }
  const retry = retryHintOf(gw);
  if (retry !== undefined) {
    void reply.header('x-should-retry', String(retry));
  }
  const body = speaksAnthropic(reply) ? anthropicErrorBody(gw.toBody()) : { error: gw.toBody() };
  void reply.status(gw.status).header('content-type', 'application/json; charset=utf-8').send(body);
}

export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? ` (cause: ${err.cause.message})` : '';
    return `${err.name}: ${err.message}${cause}`;
  }
  if (typeof err === 'object' && err !== null && 'message' in err && typeof err.message === 'string') {
    return err.message;
  }
  return typeof err;
}

/**
 * A failed readiness check's answer (`@nestjs/terminus`: `{status: 'error', info, error, details}`, thrown as a
 * 503): probes and operators read which check failed from it, so it is sent as it is, not as an error envelope.
 */
function healthCheckFailure(exception: unknown): { status: number; body: object } | null {
  if (!(exception instanceof HttpException)) {
    return null;
  }
  const body = exception.getResponse();
  return typeof body === 'object' && body !== null && 'status' in body && body.status === 'error' && 'details' in body
    ? { status: exception.getStatus(), body }
    : null;
}

@Catch()
export class ErrorEnvelopeFilter implements ExceptionFilter {
  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const reply = ctx.getResponse<FastifyReply>();
    const request = ctx.getRequest<FastifyRequest & { requestId?: string }>();
    if (reply.sent) {
      return;
    }
    const health = healthCheckFailure(exception);
    if (health !== null) {
      void reply.status(health.status).header('content-type', 'application/json; charset=utf-8').send(health.body);
      return;
    }
    if (request?.is404 === true) {
      sendNotRouted(request, reply, exception);
      return;
    }
    sendError(reply, exception, request?.requestId);
  }
}

/**
 * The answer to a request no route takes (`is404`): a 405 naming the methods its path takes, a 204 to `OPTIONS` there,
 * else a 404 `Cannot GET /path`. Neither echoes the URL as sent: the 405 quotes the route as declared
 * (`/api/v1/ai/jobs/:id`), the 404 the path alone, without the query (where clients put keys: `?api_key=`, `?key=`) or
 * an absolute-form target's user info. `notFound`: what Nest threw for it (its own `Cannot GET /x?query`, answered as
 * ours), or an error met on the way, which is answered as it is.
 */
export function sendNotRouted(
  request: FastifyRequest & { requestId?: string },
  reply: FastifyReply,
  notFound?: unknown,
): void {
  const allowed = allowedMethodsOf(request);
  if (allowed.length > 0) {
    // The path exists with other methods: say which (RFC 9110 §15.5.6), rather than "not found".
    void reply.header('allow', allowed.join(', '));
    if (request.method === 'OPTIONS') {
      void reply.status(204).send();
      return;
    }
    const route = declaredRouteOf(request, allowed[0]);
    const notAllowed = new GatewayError(
      ErrorCode.MethodNotAllowed,
      `Method ${request.method} is not allowed ${route === undefined ? 'here' : `on ${route}`}; it takes ${allowed.join(', ')}.`,
    );
    sendError(reply, notAllowed, request.requestId);
    return;
  }
  const nestNotFound = notFound === undefined || (notFound instanceof HttpException && notFound.getStatus() === 404);
  sendError(
    reply,
    nestNotFound
      ? new GatewayError(ErrorCode.NotFound, `Cannot ${request.method} ${routerPath(request.url)}`, { cause: notFound })
      : notFound,
    request.requestId,
  );
}
