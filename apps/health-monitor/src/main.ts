import 'reflect-metadata';
import { loadEnvOrExit } from '@aigw/platform';
import { APP_NAME, startHealthMonitor } from './bootstrap';
import { MonitorEnv } from './config/monitor-env';
import { MonitorLifecycle } from './health-monitor.module';

async function main(): Promise<void> {
  const env = loadEnvOrExit(MonitorEnv, APP_NAME);
  const app = await startHealthMonitor(env);
  const lifecycle = app.get(MonitorLifecycle);
  // Nest's shutdown hook closes the app on SIGTERM/SIGINT, then re-raises the signal, which would end the
  // process as "killed". A graceful stop exits 0: once everything is closed the re-raised signal lands here.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (lifecycle.stopped) {
        process.exit(0);
      }
    });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(
    `[${APP_NAME}] failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
