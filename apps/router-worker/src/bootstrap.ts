import type { MicroserviceOptions } from '@nestjs/microservices';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { warmUpTokenizer } from '@aigw/core';
import { ControlServer, createHttpApp, listen, RedisErrors } from '@aigw/platform';
import type { WorkerEnv } from './config/worker-env';
import { routerWorkerRoot } from './router-worker.module';

export const APP_NAME = 'router-worker';

/**
 * Boots a router-worker: ops HTTP server, cancel messages over the Redis transport, then the queue consumers
 * (they start once every module is initialised). Resolves when it is ready; `app.close()` shuts it down gracefully.
 */
export async function startRouterWorker(env: WorkerEnv): Promise<NestFastifyApplication> {
  // Builds the tokenizer's rank table now (hundreds of ms) rather than in the first request.
  warmUpTokenizer();
  const http = { host: env.HOST, port: env.PORT };
  const app = await createHttpApp(routerWorkerRoot(env), env, APP_NAME, http);
  app.connectMicroservice<MicroserviceOptions>(
    { strategy: new ControlServer(env.REDIS_URL, app.get(RedisErrors)) },
    { inheritAppConfig: true },
  );
  // Subscribed to cancel messages before the first job can start.
  await app.startAllMicroservices();
  await listen(app, http, APP_NAME);
  return app;
}
