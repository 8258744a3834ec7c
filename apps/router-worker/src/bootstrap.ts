import type { MicroserviceOptions } from '@nestjs/microservices';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { warmUpTokenizer } from '@aigw/core';
import {
  catalogControlServer,
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
 * Boots a router-worker: ops HTTP server, cancel messages over the Redis transport, then the queue consumers
 * (they start once every module is initialised). Resolves when it is ready; `app.close()` shuts it down gracefully.
 */
export async function startRouterWorker(env: WorkerEnv): Promise<NestFastifyApplication> {
  const app = await createRouterWorker(env);
  await listen(app, { host: env.HOST, port: env.PORT }, APP_NAME);
  return app;
}

/**
 * A router-worker consuming jobs, without its ops port open. `shared`: it runs in an api-gateway's process
 * (ADR 0010), which serves `/health/*` and `/metrics` for it and orders its shutdown, so it never listens.
 */
export async function createRouterWorker(env: WorkerEnv, shared?: SharedProcess): Promise<NestFastifyApplication> {
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
