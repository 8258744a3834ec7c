import 'reflect-metadata';
import { boundHeapGrowth, exitOnSignal, exitOnStartFailure, loadEnvOrExit } from '@aigw/platform';
import { GatewayEnv } from '../../api-gateway/src/config/gateway-env';
import { MonitorEnv } from '../../health-monitor/src/config/monitor-env';
import { WorkerEnv } from '../../router-worker/src/config/worker-env';
import { AllInOne, APP_NAME, type AllInOneEnvs } from './all-in-one';
import { AllInOneEnv } from './config/all-in-one-env';

function loadEnvs(): AllInOneEnvs {
  const own = loadEnvOrExit(AllInOneEnv, APP_NAME);
  return {
    gateway: loadEnvOrExit(GatewayEnv, 'api-gateway'),
    worker: loadEnvOrExit(WorkerEnv, 'router-worker'),
    monitor: own.ALL_IN_ONE_MONITOR ? loadEnvOrExit(MonitorEnv, 'health-monitor') : null,
  };
}

async function main(): Promise<void> {
  boundHeapGrowth();
  const envs = loadEnvs();
  const host = await AllInOne.start(envs);
  const graceMs = envs.gateway.SHUTDOWN_GRACE_MS;
  exitOnSignal(() => host.close(graceMs), graceMs, APP_NAME);
}

main().catch(exitOnStartFailure(APP_NAME));
