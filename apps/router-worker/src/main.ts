import 'reflect-metadata';
import { boundHeapGrowth, loadEnvOrExit } from '@aigw/platform';
import { APP_NAME, startRouterWorker } from './bootstrap';
import { WorkerEnv } from './config/worker-env';

async function main(): Promise<void> {
  boundHeapGrowth();
  const env = loadEnvOrExit(WorkerEnv, APP_NAME);
  await startRouterWorker(env);
}

main().catch((err: unknown) => {
  process.stderr.write(
    `[${APP_NAME}] failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
