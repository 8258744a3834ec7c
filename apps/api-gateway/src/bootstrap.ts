import { createHttpApp, type HttpAppOptions } from '@aigw/platform';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { AppModule } from './app.module';
import type { GatewayEnv } from './config/gateway-env';
import { HttpMetrics } from './http/http-metrics';
import { installRequestContext } from './http/request-context';

export const APP_NAME = 'api-gateway';

export function httpOptions(env: GatewayEnv): HttpAppOptions {
  return { host: env.HOST, port: env.PORT, bodyLimitBytes: env.MAX_BODY_BYTES };
}

/** The gateway, initialised (connected, migrated, subscribed) but not listening yet. */
export async function createGatewayApp(env: GatewayEnv): Promise<NestFastifyApplication> {
  return createHttpApp(AppModule.forRoot(env), env, APP_NAME, httpOptions(env), {
    // Hooks go on before init() registers the routes, so every route (and the 404 handler) gets them.
    beforeInit: (fastify, app) => {
      installRequestContext(fastify);
      app.get(HttpMetrics).install(fastify);
    },
  });
}
