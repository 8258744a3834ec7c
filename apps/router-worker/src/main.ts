import 'reflect-metadata';
import { loadEnvOrExit } from '@aigw/platform';
import { APP_NAME, startRouterWorker } from './bootstrap';
import { WorkerEnv } from './config/worker-env';
import { WorkerLifecycle } from './worker-lifecycle';

async function main(): Promise<void> {
  const env = loadEnvOrExit(WorkerEnv, APP_NAME);
  const app = await startRouterWorker(env);
  const lifecycle = app.get(WorkerLifecycle);
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
