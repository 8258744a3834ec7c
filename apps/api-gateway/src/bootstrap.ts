import { Module, type Type } from '@nestjs/common';
import { createHttpApp, sendError, type HttpAppOptions } from '@aigw/platform';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { AppModule } from './app.module';
import type { GatewayEnv } from './config/gateway-env';
import { HttpMetrics } from './http/http-metrics';
import { installRequestContext } from './http/request-context';

export const APP_NAME = 'api-gateway';

export function httpOptions(env: GatewayEnv): HttpAppOptions {
  return { host: env.HOST, port: env.PORT, bodyLimitBytes: env.MAX_BODY_BYTES };
}

/** createHttpApp takes a module class; the env reaches AppModule through forRoot. */
function entryModule(env: GatewayEnv): Type<unknown> {
  @Module({ imports: [AppModule.forRoot(env)] })
  class ApiGatewayModule {}
  return ApiGatewayModule;
}

/** The gateway, initialised (connected, migrated, subscribed) but not listening yet. */
export async function createGatewayApp(env: GatewayEnv): Promise<NestFastifyApplication> {
  const app = await createHttpApp(entryModule(env), env, APP_NAME, httpOptions(env));
  const fastify = app.getHttpAdapter().getInstance();
  // Hooks go on before init() registers the routes, so every route (and the 404 handler) gets them.
  installRequestContext(fastify);
  app.get(HttpMetrics).install(fastify);
  await app.init();
  // Nest's init() replaces the Fastify error handler createHttpApp installed with one that turns a JSON
  // SyntaxError into a plain 400 (losing `invalid_json`); put the envelope-aware one back.
  fastify.setErrorHandler((err, req, reply) => sendError(reply, err, req.requestId));
  return app;
}
