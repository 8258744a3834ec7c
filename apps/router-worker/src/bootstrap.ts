import type { MicroserviceOptions } from '@nestjs/microservices';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { warmUpTokenizer } from '@aigw/core';
import {
  catalogControlServer,
  closeAfterFailedStart,
  createHttpApp,
  dependenciesOf,
  listen,
  ReadinessProblem,
  type SharedProcess,
} from '@aigw/platform';
import type { WorkerEnv } from './config/worker-env';
import { GenerationConsumer } from './jobs/generation-consumer';
import { routerWorkerRoot } from './router-worker.module';
import { WorkerLifecycle } from './worker-lifecycle';

export const APP_NAME = 'router-worker';

/**
 * Boots a router-worker: cancel messages over the Redis transport, the ops HTTP server, then the queue consumers.
 * They start last: a start that fails before (PORT in use) held no job, which would have stalled under its lock
 * until another worker's stall check took it over. Resolves when it is ready; `app.close()` shuts it down gracefully.
 */
export async function startRouterWorker(env: WorkerEnv): Promise<NestFastifyApplication> {
  const app = await buildRouterWorker(env);
  try {
    await listen(app, { host: env.HOST, port: env.PORT }, APP_NAME);
  } catch (err) {
    await closeAfterFailedStart(app, env.SHUTDOWN_GRACE_MS);
    throw err;
  }
  app.get(WorkerLifecycle).consume();
  return app;
}

/**
 * A router-worker consuming jobs, without its ops port open. `shared`: it runs in an api-gateway's process
 * (ADR 0010), which serves `/health/*` and `/metrics` for it, orders its shutdown and closes it when its own start
 * fails after this, so it never listens.
 */
export async function createRouterWorker(env: WorkerEnv, shared?: SharedProcess): Promise<NestFastifyApplication> {
  const app = await buildRouterWorker(env, shared);
  app.get(WorkerLifecycle).consume();
  return app;
}

/** The worker's app, initialised and subscribed to control messages, not yet taking jobs (WorkerLifecycle.consume). */
async function buildRouterWorker(env: WorkerEnv, shared?: SharedProcess): Promise<NestFastifyApplication> {
  // Builds the tokenizer's rank table now (~0.2 s) rather than in the first request.
  warmUpTokenizer();
  const http = { host: env.HOST, port: env.PORT };
  const app = await createHttpApp(routerWorkerRoot(env, shared), env, APP_NAME, http, {
    handleSignals: shared === undefined,
    usesCacheRedis: true,
  });
  app.connectMicroservice<MicroserviceOptions>(
    { strategy: catalogControlServer(app, env.REDIS_URL) },
    { inheritAppConfig: true },
  );
  // Subscribed to cancel messages before the first job can start.
  await app.startAllMicroservices();
  return app;
}

/** The readiness of a worker hosted in another app's process: it takes jobs, and its Redis and PostgreSQL answer. */
export function workerReadiness(app: NestFastifyApplication): () => Promise<void> {
  const consumer = app.get(GenerationConsumer);
  const dependencies = dependenciesOf(app);
  return async () => {
    if (!consumer.consuming) {
      throw new ReadinessProblem('not taking jobs');
    }
    await dependencies();
  };
}

/** The Redis client id a hosted worker takes jobs on (as CLIENT LIST lists the queue's workers); null when unknown. */
export function workerClientId(app: NestFastifyApplication): Promise<number | null> {
  return app.get(GenerationConsumer).blockingClientId();
}

/** Stops a hosted worker taking jobs; its running jobs get `drainMs` before they are aborted (then close the app). */
export function drainWorker(app: NestFastifyApplication, drainMs: number): Promise<void> {
  return app.get(WorkerLifecycle).drain(drainMs);
}
