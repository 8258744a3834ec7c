import type { MicroserviceOptions } from '@nestjs/microservices';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { catalogControlServer, controlNamespace, createHttpApp, listen, type SharedProcess } from '@aigw/platform';
import type { MonitorEnv } from './config/monitor-env';
import { healthMonitorRoot } from './health-monitor.module';

export const APP_NAME = 'health-monitor';

/**
 * Boots the health-monitor: ops HTTP server, the control transport on this deployment's namespace
 * (`health.probe` requests from the api-gateway; `provider.changed` reloads the catalog and reconciles the probe
 * schedules), then the probe schedules and their consumer. Resolves once it listens; `app.close()` shuts it down
 * gracefully.
 */
export async function startHealthMonitor(env: MonitorEnv): Promise<NestFastifyApplication> {
  const app = await createHealthMonitor(env);
  await listen(app, { host: env.HOST, port: env.PORT }, APP_NAME);
  return app;
}

/** The health-monitor running, without its ops port open; `shared`: in an api-gateway's process (ADR 0010). */
export async function createHealthMonitor(env: MonitorEnv, shared?: SharedProcess): Promise<NestFastifyApplication> {
  const http = { host: env.HOST, port: env.PORT };
  const app = await createHttpApp(healthMonitorRoot(env, shared), env, APP_NAME, http, {
    handleSignals: shared === undefined,
  });
  app.connectMicroservice<MicroserviceOptions>(
    {
      strategy: catalogControlServer(app, env.REDIS_URL, controlNamespace(env.REDIS_PREFIX, env.REDIS_URL)),
    },
    { inheritAppConfig: true },
  );
  await app.startAllMicroservices();
  return app;
}
