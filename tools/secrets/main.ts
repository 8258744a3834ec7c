import {
  createDataSourceOptions,
  describeDatabaseError,
  readDatabaseEnv,
  runMigrationsLocked,
  SecretBox,
  SecretBoxError,
} from '@aigw/entities';
import { DataSource } from 'typeorm';
import { parseSecretsArgs, USAGE, UsageError, type SecretsCommand } from './args';
import { runSecretsCommand, type SecretsOutput } from './commands';

/** `npm run secrets -- rotate|check`: SECRETS_KEY rotation from a shell. Exit 2 = bad arguments. */
async function main(argv: string[], env: NodeJS.ProcessEnv, io: SecretsOutput): Promise<number> {
  let cmd: SecretsCommand;
  try {
    cmd = parseSecretsArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`secrets: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    throw err;
  }
  if (cmd.kind === 'help') {
    io.out(USAGE);
    return 0;
  }
  // Before anything connects: a bad key is named (never echoed) like the apps do at boot.
  const { box, usingDevelopmentKey } = SecretBox.fromEnv(env.SECRETS_KEY, env.NODE_ENV, env.SECRETS_KEY_PREVIOUS);
  if (usingDevelopmentKey) {
    io.err('(SECRETS_KEY is not set: using the development key, as the apps do outside production)');
  }
  const dbEnv = readDatabaseEnv(env);
  const dataSource = new DataSource(
    createDataSourceOptions({ ...dbEnv, poolSize: 1, applicationName: 'aigw-secrets' }),
  );
  await dataSource.initialize();
  try {
    const ran = await runMigrationsLocked(dataSource);
    if (ran.length > 0) {
      io.err(`(applied ${ran.length} pending migration(s) to schema "${dbEnv.schema}")`);
    }
    return await runSecretsCommand(cmd, dataSource, box, io);
  } finally {
    await dataSource.destroy();
  }
}

const io: SecretsOutput = { out: (line) => console.log(line), err: (line) => console.error(line) };

main(process.argv.slice(2), process.env, io).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    // SecretBoxError messages name variables and rows, never a key or a secret.
    const message = err instanceof SecretBoxError ? err.message : describeDatabaseError(err);
    io.err(`secrets: ${message}`);
    process.exitCode = 1;
  },
);
