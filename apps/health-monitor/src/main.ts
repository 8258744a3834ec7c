import 'reflect-metadata';
import { boundHeapGrowth, loadEnvOrExit } from '@aigw/platform';
import { APP_NAME, startHealthMonitor } from './bootstrap';
import { MonitorEnv } from './config/monitor-env';

async function main(): Promise<void> {
  boundHeapGrowth();
  const env = loadEnvOrExit(MonitorEnv, APP_NAME);
  await startHealthMonitor(env);
}

main().catch((err: unknown) => {
  process.stderr.write(
    `[${APP_NAME}] failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
