import 'reflect-metadata';
import { boundHeapGrowth, exitOnSignal, exitOnStartFailure, loadEnvOrReport } from '@aigw/platform';
import { GatewayEnv } from '../../api-gateway/src/config/gateway-env';
import { MonitorEnv } from '../../health-monitor/src/config/monitor-env';
import { WorkerEnv } from '../../router-worker/src/config/worker-env';
import { AllInOne, APP_NAME, type AllInOneEnvs } from './all-in-one';
import { AllInOneEnv } from './config/all-in-one-env';

/** Each hosted app's environment; every app's bad variables are printed before the exit, not only the first's. */
function loadEnvs(): AllInOneEnvs {
  const own = loadEnvOrReport(AllInOneEnv, APP_NAME);
  const gateway = loadEnvOrReport(GatewayEnv, 'api-gateway');
  const worker = loadEnvOrReport(WorkerEnv, 'router-worker');
  const monitor = own?.ALL_IN_ONE_MONITOR === true ? loadEnvOrReport(MonitorEnv, 'health-monitor') : null;
  if (own === null || gateway === null || worker === null || (own.ALL_IN_ONE_MONITOR && monitor === null)) {
    process.exit(1);
  }
  return { gateway, worker, monitor };
}

async function main(): Promise<void> {
  boundHeapGrowth();
  const envs = loadEnvs();
  const graceMs = envs.gateway.SHUTDOWN_GRACE_MS;
  // The signals are handled from the start, not once it is done: the hosted worker takes jobs before the port opens,
  // and a SIGTERM meanwhile (a pod scaled in while it starts) would kill it with them. The close waits for the start.
  const starting = AllInOne.start(envs);
  exitOnSignal(() => starting.then((host) => host.close(graceMs)), graceMs, APP_NAME);
  await starting;
}

main().catch(exitOnStartFailure(APP_NAME));
