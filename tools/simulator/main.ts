import { InvalidEnvironmentError } from '@aigw/core';
import { ProviderSimulator, simulatorBanner } from '@aigw/testing';
import { parseSimulatorArgs, SIMULATOR_USAGE } from './args';
import { parseSimulatorEnv, type SimulatorEnv } from './env';

/** How long a stop may take before the process exits anyway. */
const STOP_GRACE_MS = 5000;

function readEnv(): SimulatorEnv | null {
  try {
    return parseSimulatorEnv(process.env);
  } catch (err) {
    if (err instanceof InvalidEnvironmentError) {
      process.stderr.write(`provider simulator: ${err.message}\n`);
      return null;
    }
    throw err;
  }
}

async function main(): Promise<void> {
  const args = parseSimulatorArgs(process.argv.slice(2));
  if (args.kind === 'help') {
    process.stdout.write(`${SIMULATOR_USAGE}\n`);
    return;
  }
  if (args.kind === 'usage-error') {
    process.stderr.write(`provider simulator: ${args.message}\n\n${SIMULATOR_USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  const env = readEnv();
  if (env === null) {
    process.exitCode = 1;
    return;
  }
  const sim = new ProviderSimulator(env.config, { name: env.name });
  try {
    await sim.start(env.port, env.host);
  } catch (err) {
    throw new Error(`cannot listen on ${env.host}:${env.port}`, { cause: err });
  }
  process.stdout.write(`${simulatorBanner(sim)}\n`);

  let stopping = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (stopping) {
      process.exit(1);
    }
    stopping = true;
    process.stdout.write(`provider simulator: ${signal} received, stopping\n`);
    setTimeout(() => process.exit(1), STOP_GRACE_MS).unref();
    sim.stop().then(
      () => process.stdout.write('provider simulator: stopped\n'),
      (err: unknown) => {
        process.stderr.write(`provider simulator: stop failed: ${String(err)}\n`);
        process.exitCode = 1;
      },
    );
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

main().catch((err: unknown) => {
  const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
  process.stderr.write(`provider simulator: ${err instanceof Error ? err.message : String(err)}${cause}\n`);
  process.exitCode = 1;
});
