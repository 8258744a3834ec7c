import 'reflect-metadata';
import { boundHeapGrowth, exitOnStartFailure, listen, loadEnvOrExit } from '@aigw/platform';
import { APP_NAME, createGatewayApp, httpOptions } from './bootstrap';
import { GatewayEnv } from './config/gateway-env';

async function main(): Promise<void> {
  boundHeapGrowth();
  const env = loadEnvOrExit(GatewayEnv, APP_NAME);
  const app = await createGatewayApp(env);
  await listen(app, httpOptions(env), APP_NAME);
}

main().catch(exitOnStartFailure(APP_NAME));
