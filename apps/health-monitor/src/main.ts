import 'reflect-metadata';
import { boundHeapGrowth, exitOnStartFailure, loadEnvOrExit } from '@aigw/platform';
import { APP_NAME, startHealthMonitor } from './bootstrap';
import { MonitorEnv } from './config/monitor-env';

async function main(): Promise<void> {
  boundHeapGrowth();
  const env = loadEnvOrExit(MonitorEnv, APP_NAME);
  await startHealthMonitor(env);
}

main().catch(exitOnStartFailure(APP_NAME));
