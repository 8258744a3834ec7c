import type { MicroserviceOptions } from '@nestjs/microservices';
import {
  catalogControlServer,
  corsOriginsOf,
  createHttpApp,
  installCors,
  markWorkerLeaving,
  REDIS,
  RedisKeys,
  type HttpAppOptions,
  type SharedProcess,
} from '@aigw/platform';
import type { Redis } from 'ioredis';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { QueueBoard } from './admin/queue-board';
import { AppModule } from './app.module';
import { installEarlyKeyCheck } from './auth/early-key-check';
import { GenerationQueue } from './generation/generation-queue';
import { ReplyHub } from './generation/reply-hub';
import { trustProxyOf, type GatewayEnv } from './config/gateway-env';
import { installApiDocs } from './docs/openapi';
import { defaultConsoleDir, installConsole } from './http/console-files';
import { GATEWAY_CORS_HEADERS } from './http/cors-headers';
import { HttpMetrics } from './http/http-metrics';
import { installRequestContext } from './http/request-context';
import { installYamlBody } from './http/yaml-body';

export const APP_NAME = 'api-gateway';
/** The release the API docs name. */
export const APP_VERSION = '0.1.0';

export function httpOptions(env: GatewayEnv): HttpAppOptions {
  return {
    host: env.HOST,
    port: env.PORT,
    bodyLimitBytes: env.MAX_BODY_BYTES,
    trustProxy: trustProxyOf(env.TRUST_PROXY),
    receiveTimeoutMs: env.HTTP_RECEIVE_TIMEOUT_MS,
    keepAliveTimeoutMs: env.HTTP_KEEP_ALIVE_TIMEOUT_MS,
  };
}

/**
 * The gateway, initialised (connected, migrated, subscribed) but not listening yet. `shared`: it hosts other apps
 * in its process (ADR 0010), whose host then handles SIGTERM.
 */
export async function createGatewayApp(env: GatewayEnv, shared?: SharedProcess): Promise<NestFastifyApplication> {
  const app = await createHttpApp(AppModule.forRoot(env, shared), env, APP_NAME, httpOptions(env), {
    handleSignals: shared === undefined,
    usesCacheRedis: true,
    // Hooks go on before init() registers the routes, so every route (and the 404 handler) gets them.
    beforeInit: (fastify, app) => {
      installRequestContext(fastify);
      // Before any hook that may answer a request itself (a preflight, an early 401): those answers are counted too.
      app.get(HttpMetrics).install(fastify);
      // After the request id (a preflight has one too), before anything that may refuse a request (the key checks,
      // admission), so that a browser on a listed origin can read the refusal. CORS_ORIGINS empty: no hook at all.
      installCors(fastify, corsOriginsOf(env.CORS_ORIGINS), GATEWAY_CORS_HEADERS);
      // After the request id, before any body is read.
      installEarlyKeyCheck(fastify, app);
      installYamlBody(fastify);
      installApiDocs(fastify, app, APP_VERSION);
      app.get(QueueBoard).install(fastify);
      installConsole(fastify, defaultConsoleDir());
    },
  });
  // `provider.changed` from another replica's admin change reloads this one's catalog too. Not inheriting the
  // app's global guard, pipe and filter: they speak HTTP (API keys, error envelopes), control messages do not.
  app.connectMicroservice<MicroserviceOptions>({ strategy: catalogControlServer(app, env.REDIS_URL) });
  await app.startAllMicroservices();
  return app;
}

/**
 * Whether a gateway hosted with a worker (ADR 0010) may still need that worker to take one of its jobs: its port
 * still accepts connections, a request is on its way to the queue or a job of its own is still queued, or no other
 * worker stays connected to the queue (nothing else would take a job this gateway queues from now on, or one that
 * goes back to the queue for a retry). The hosted worker (its Redis client id, when known) is marked as leaving
 * first, for `leaveMs` (its drain bound) and a margin (`markWorkerLeaving`, as a draining router-worker marks its
 * own): processes draining together then each count the others as gone. Its host keeps the worker taking jobs while
 * the returned check holds.
 */
export async function gatewayAwaitsWorker(
  app: NestFastifyApplication,
  hostedWorker: number | null,
  leaveMs: number,
): Promise<() => Promise<boolean>> {
  const hub = app.get(ReplyHub, { strict: false });
  const queue = app.get(GenerationQueue, { strict: false });
  const redis = app.get<symbol, Redis>(REDIS, { strict: false });
  const server = app.getHttpServer();
  const marked =
    hostedWorker !== null &&
    (await markWorkerLeaving(redis, app.get(RedisKeys, { strict: false }), hostedWorker, leaveMs).then(
      () => true,
      () => false,
    ));
  // Unmarked, the hosted worker is one of those counted.
  const alone = marked ? 0 : 1;
  return async () => server.listening || (await hub.awaitsWorker()) || (await queue.workersStaying()) <= alone;
}
