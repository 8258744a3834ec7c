import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { isIPv6 } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  ConsoleLogger,
  Logger,
  type DynamicModule,
  type LogLevel,
  type NestApplicationOptions,
  type Type,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyInstance } from 'fastify';
import type { BaseEnv } from '../config/base-env';
import { installGracefulShutdown } from '../lifecycle/shutdown';
import { StartupError } from '../lifecycle/start-failure';
import { refuseBadRedisLogin, waitForRedis } from '../redis/redis-at-boot';
import { installClosingAnswer } from './closing';
import { installConnectionDrainer } from './connection-drainer';
import { installLateContinue } from './continue';
import { corsHeadersOf } from './cors';
import { answerClientError, answerExpectationFailed, answerFrameworkError } from './framework-errors';
import { installContentDecoding, installJsonParser, installOversizeAnswer } from './json-body';
import { collectRouteMethods } from './route-methods';

/** The longest path parameter a route takes; nothing the gateway names has a longer id (see toGatewayError). */
export const MAX_PARAM_LENGTH = 1024;

const LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];

/**
 * Nest's ExceptionHandler logs, with its stack, every error of `NestFactory.create` and of the app's methods, then
 * rethrows it (`abortOnError: false`) to the caller, which reports it: a start failure in one line naming the
 * variable to fix (exitOnStartFailure), a failed close in the shutdown's own line. Its lines are left out.
 */
class AppLogger extends ConsoleLogger {
  override error(message: unknown, ...rest: unknown[]): void {
    if (rest.at(-1) === 'ExceptionHandler') {
      return;
    }
    super.error(message, ...rest);
  }
}

export function createLogger(env: Pick<BaseEnv, 'LOG_LEVEL' | 'LOG_FORMAT'>, appName: string): ConsoleLogger {
  const upto = LEVELS.indexOf(env.LOG_LEVEL);
  return new AppLogger(appName, {
    logLevels: LEVELS.slice(0, upto + 1),
    json: env.LOG_FORMAT === 'json',
    // `isTTY` is undefined on a pipe, which ConsoleLogger would take as "default": colours in log files.
    colors: env.LOG_FORMAT !== 'json' && process.stdout.isTTY === true && process.env.NO_COLOR === undefined,
  });
}

export interface HttpAppOptions {
  bodyLimitBytes?: number;
  /**
   * Fastify's `trustProxy`: which peers' `X-Forwarded-For` gives the client address (`request.ip`). Off by default:
   * anyone could claim any address.
   */
  trustProxy?: boolean | string[];
  /**
   * How long a client may take to send a whole request, headers and body (Node's `requestTimeout`; 0: no limit). It
   * ends once the request has arrived: an answer, however long, is not bound by it.
   */
  receiveTimeoutMs?: number;
  /** How long a keep-alive connection may sit idle between requests (Node's `keepAliveTimeout`). */
  keepAliveTimeoutMs?: number;
  host: string;
  port: number;
}

/**
 * Node's own default: without a limit, a client that sends its headers and then its body a byte at a time (or never)
 * keeps its connection, and what it sent, for good.
 */
export const DEFAULT_RECEIVE_TIMEOUT_MS = 300_000;

/** Above the 60 s idle timeout of AWS ALB and nginx, so the gateway is never the side that closes first. */
export const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 65_000;

/** Node's `headersTimeout` default: how long a client may take to send a request's headers. */
const HEADERS_TIMEOUT_MS = 60_000;

/**
 * Node's server options for a receive timeout. The headers' timeout may not exceed it: Node then swaps the two, and a
 * 1 s receive timeout became 60 s. And Node looks for requests past either every 30 s by default, which would let a
 * short timeout run several times over.
 */
function receiveTimeouts(receiveTimeoutMs: number): { headersTimeout: number; connectionsCheckingInterval: number } {
  if (receiveTimeoutMs === 0) {
    return { headersTimeout: HEADERS_TIMEOUT_MS, connectionsCheckingInterval: 30_000 };
  }
  return {
    headersTimeout: Math.min(HEADERS_TIMEOUT_MS, receiveTimeoutMs),
    connectionsCheckingInterval: Math.min(30_000, Math.max(250, Math.round(receiveTimeoutMs / 4))),
  };
}

/**
 * A client that half-closes its socket once its request is sent (`nc -N`, `ncat`, `socat`: a FIN after the request)
 * gets its answer. By default Node ends the socket on that FIN, and an answer not written in the same tick was lost
 * (`/health/ready`, `/v1/models`, the admin API): an empty reply. Node answers such a request, then closes. TCP does
 * not tell a half-close from a client that closed its socket (the same FIN): a route whose work is worth stopping
 * when its client leaves takes a FIN as leaving (the gateway's `Client.onGone`). `httpAllowHalfOpen` is not in
 * Node's typings, but http.Server has set it (false) since Node 0.x.
 */
function answerHalfClosed(server: Server): void {
  (server as Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
}

/**
 * Creates and initialises a Nest app on Fastify with the project's conventions: one error envelope
 * even for errors Fastify raises before Nest sees the request (bad JSON, body too large), graceful
 * shutdown bounded by SHUTDOWN_GRACE_MS (exit 0 when nothing was abandoned, see `installGracefulShutdown`;
 * the root module must import `ShutdownModule`), and a bounded body size. `beforeInit` may add Fastify
 * hooks, which must exist before Nest registers the routes. `handleSignals: false` leaves SIGTERM to a host that
 * closes several apps of one process in order (ADR 0010).
 */
export async function createHttpApp(
  module: Type<unknown> | DynamicModule,
  env: BaseEnv,
  appName: string,
  opts: HttpAppOptions,
  hooks: {
    beforeInit?: (fastify: FastifyInstance, app: NestFastifyApplication) => void;
    handleSignals?: boolean;
    /** The app opens the response cache's connection: a CACHE_REDIS_URL refusing its login stops the start. */
    usesCacheRedis?: boolean;
  } = {},
  nestOptions: NestApplicationOptions = {},
): Promise<NestFastifyApplication> {
  const bodyLimit = opts.bodyLimitBytes ?? 1024 * 1024;
  const receiveTimeout = opts.receiveTimeoutMs ?? DEFAULT_RECEIVE_TIMEOUT_MS;
  const adapter = new FastifyAdapter({
    bodyLimit,
    trustProxy: opts.trustProxy ?? false,
    logger: false,
    // Bounds only the arrival of a request (a 408 past it, from answerClientError); answers take as long as their
    // generation, whose deadlines the gateway enforces itself.
    requestTimeout: receiveTimeout,
    http: receiveTimeouts(receiveTimeout),
    keepAliveTimeout: opts.keepAliveTimeoutMs ?? DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
    // A request arriving while the server closes gets the error envelope from `installClosingAnswer` instead.
    return503OnClosing: false,
    // Fastify's default (100) is shorter than a model name may be (256, percent-encoded up to three times that):
    // such a model could be created and then never reached by its admin routes.
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // A longer parameter, or a bad percent-encoding, in the error envelope (404 / 400) rather than Fastify's own.
    frameworkErrors: answerFrameworkError,
    // What Node's HTTP parser refuses (headers over its limit: 431, a request that is not HTTP: 400), likewise, with
    // the app's CORS headers. Fastify calls it with `this` bound to the app's instance (created after this adapter).
    clientErrorHandler(this: FastifyInstance, err: NodeJS.ErrnoException, socket: Duplex): void {
      answerClientError(err, socket, (origin) => corsHeadersOf(this, origin));
    },
  });
  const logger = createLogger(env, appName);
  // Before anything connects: a Redis not up yet (started alongside the apps) is waited for, as PostgreSQL is.
  await waitForRedis(env.REDIS_URL, (message) => logger.warn(message, 'Redis'));
  if (hooks.usesCacheRedis === true && env.CACHE_REDIS_URL !== undefined) {
    await refuseBadRedisLogin(env.CACHE_REDIS_URL, 'CACHE_REDIS_URL');
  }
  const app = await NestFactory.create<NestFastifyApplication>(module, adapter, {
    // The app's own logger from the first line: buffered lines (bufferLogs) carried the time they were flushed.
    logger,
    // Our own JSON parser (installJsonParser) replaces Nest's and Fastify's.
    bodyParser: false,
    // A provider that fails to start rejects here, for the app's own start-failure report (exitOnStartFailure):
    // Nest's default logs its ExceptionHandler stack and aborts the process first.
    abortOnError: false,
    ...nestOptions,
  });
  const fastify = app.getHttpAdapter().getInstance();
  answerHalfClosed(fastify.server);
  fastify.server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) =>
    answerExpectationFailed(req, res, corsHeadersOf(fastify, req.headers.origin)),
  );
  installLateContinue(fastify.server);
  installJsonParser(fastify);
  installContentDecoding(fastify, bodyLimit);
  // Before Nest adds the routes: a path answered with other methods is a 405, not a 404.
  collectRouteMethods(fastify);
  hooks.beforeInit?.(fastify, app);
  // After the app's own hooks, so the early 503 and 413 carry what they set (the request id).
  installClosingAnswer(fastify);
  // After it: its `preClose` marks the app as closing before the drain begins.
  installConnectionDrainer(fastify);
  installOversizeAnswer(fastify, bodyLimit);
  await app.init();
  if (hooks.handleSignals !== false) {
    installGracefulShutdown(app, env.SHUTDOWN_GRACE_MS, appName);
  }
  return app;
}

/**
 * Opens the app's port. `HOST=::` (IPv4 and IPv6, as the k8s ConfigMap sets it) on a host whose kernel has IPv6
 * turned off (`ipv6.disable=1`: no IPv6 socket can be made) falls back to `0.0.0.0`, with a warning, as Node does when
 * no host is given, instead of failing the start.
 */
export async function listen(app: NestFastifyApplication, opts: HttpAppOptions, appName: string): Promise<void> {
  const logger = new Logger(appName);
  let bound = opts.host;
  try {
    try {
      await app.listen(opts.port, bound);
    } catch (err) {
      if (bound !== '::' || (err as NodeJS.ErrnoException | null)?.code !== 'EAFNOSUPPORT') {
        throw err;
      }
      bound = '0.0.0.0';
      logger.warn('HOST=:: but this host has no IPv6: listening on 0.0.0.0 (IPv4) instead; set HOST=0.0.0.0 to say so');
      await app.listen(opts.port, bound);
    }
  } catch (err) {
    throw listenFailure(err, urlHost(bound), opts) ?? err;
  }
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address !== null ? address.port : opts.port;
  logger.log(`listening on http://${urlHost(bound)}:${port}`);
}

/** An IPv6 address in brackets, as in a URL: `http://[::]:3000`, not `http://:::3000`. */
function urlHost(host: string): string {
  return isIPv6(host) ? `[${host}]` : host;
}

/**
 * A listen that failed on the operator's PORT or HOST, as one line naming the variable (a StartupError): it was the
 * bare `listen EADDRINUSE: address already in use` with a stack.
 */
function listenFailure(err: unknown, host: string, opts: HttpAppOptions): StartupError | null {
  const code = (err as { code?: unknown } | null)?.code;
  const where = `${host}:${opts.port}`;
  switch (code) {
    case 'EADDRINUSE':
      return new StartupError(
        `${where} is already in use (EADDRINUSE): set PORT to a free port, or stop what listens there`,
        { cause: err },
      );
    case 'EACCES':
      return new StartupError(
        `not allowed to listen on ${where} (EACCES): ports below 1024 need privileges, set PORT to 1024 or above`,
        { cause: err },
      );
    case 'EADDRNOTAVAIL':
      return new StartupError(
        `HOST ${opts.host} is no address of this machine (EADDRNOTAVAIL): set HOST to one of its addresses, 0.0.0.0 or ::`,
        { cause: err },
      );
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new StartupError(
        `HOST ${opts.host} does not resolve (${code}): set HOST to an address or name of this machine`,
        {
          cause: err,
        },
      );
    default:
      return null;
  }
}
