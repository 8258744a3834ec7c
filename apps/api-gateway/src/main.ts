import 'reflect-metadata';
import { boundHeapGrowth, listen, loadEnvOrExit } from '@aigw/platform';
import { APP_NAME, createGatewayApp, httpOptions } from './bootstrap';
import { GatewayEnv } from './config/gateway-env';

async function main(): Promise<void> {
  boundHeapGrowth();
  const env = loadEnvOrExit(GatewayEnv, APP_NAME);
  const app = await createGatewayApp(env);
  await listen(app, httpOptions(env), APP_NAME);
}

main().catch((err: unknown) => {
  process.stderr.write(
    `[${APP_NAME}] failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
