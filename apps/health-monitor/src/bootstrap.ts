import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createHttpApp, listen } from '@aigw/platform';
import type { MonitorEnv } from './config/monitor-env';
import { healthMonitorRoot } from './health-monitor.module';

export const APP_NAME = 'health-monitor';

/** Boots the health-monitor and resolves once it listens; `app.close()` shuts it down gracefully. */
export async function startHealthMonitor(env: MonitorEnv): Promise<NestFastifyApplication> {
  const http = { host: env.HOST, port: env.PORT };
  const app = await createHttpApp(healthMonitorRoot(env), env, APP_NAME, http);
  await listen(app, http, APP_NAME);
  return app;
}
