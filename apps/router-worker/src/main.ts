import 'reflect-metadata';
import { boundHeapGrowth, exitOnStartFailure, loadEnvOrExit } from '@aigw/platform';
import { APP_NAME, startRouterWorker } from './bootstrap';
import { WorkerEnv } from './config/worker-env';

async function main(): Promise<void> {
  boundHeapGrowth();
  const env = loadEnvOrExit(WorkerEnv, APP_NAME);
  await startRouterWorker(env);
}

main().catch(exitOnStartFailure(APP_NAME));
