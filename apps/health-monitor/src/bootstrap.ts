import type { MicroserviceOptions } from '@nestjs/microservices';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import {
  catalogControlServer,
  closeAfterFailedStart,
  controlNamespace,
  createHttpApp,
  dependenciesOf,
  ENV,
  listen,
  type SharedProcess,
} from '@aigw/platform';
import type { MonitorEnv } from './config/monitor-env';
import { HealthQueue } from './health/health-queue';
import { HealthScheduler } from './health/health-scheduler';
import { healthMonitorRoot } from './health-monitor.module';

export const APP_NAME = 'health-monitor';

/**
 * Boots the health-monitor: the control transport on this deployment's namespace (`health.probe` requests from the
 * api-gateway; `provider.changed` reloads the catalog), the ops HTTP server, then the probe schedules and their
 * consumer. They start last: a start that fails before (PORT in use) took no health job, which would have stayed
 * active under its lock until another monitor's stall check took it over. Resolves once it listens and its schedules
 * are in line with the catalog; `app.close()` shuts it down gracefully.
 */
export async function startHealthMonitor(env: MonitorEnv): Promise<NestFastifyApplication> {
  const app = await buildHealthMonitor(env);
  try {
    await listen(app, { host: env.HOST, port: env.PORT }, APP_NAME);
  } catch (err) {
    await closeAfterFailedStart(app, env.SHUTDOWN_GRACE_MS);
    throw err;
  }
  await app.get(HealthScheduler).start();
  return app;
}

/**
 * The health-monitor running its schedules and probes, without its ops port open. `shared`: in an api-gateway's
 * process (ADR 0010), which serves `/health/*` and `/metrics` for it and closes it when its own start fails after this.
 */
export async function createHealthMonitor(env: MonitorEnv, shared?: SharedProcess): Promise<NestFastifyApplication> {
  const app = await buildHealthMonitor(env, shared);
  await app.get(HealthScheduler).start();
  return app;
}

/**
 * The readiness of a monitor hosted in another app's process (ADR 0010): what its own `/health/ready` checks when it
 * runs alone, its Redis and PostgreSQL and, with scheduled probes on, its probe workers (`HealthQueue.problem`).
 */
export function monitorReadiness(app: NestFastifyApplication): () => Promise<void> {
  const dependencies = dependenciesOf(app);
  const env = app.get<symbol, MonitorEnv>(ENV, { strict: false });
  const queue = app.get(HealthQueue);
  return async () => {
    if (env.HEALTH_PROBES_ENABLED) {
      await queue.ready();
    }
    await dependencies();
  };
}

/**
 * The monitor's app, initialised and answering control messages, its schedules not yet reconciled and no health job
 * taken (HealthScheduler.start).
 */
async function buildHealthMonitor(env: MonitorEnv, shared?: SharedProcess): Promise<NestFastifyApplication> {
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
