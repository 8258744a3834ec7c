import {
  AmbiguousKeyPrefixError,
  ApiKeyStore,
  createDataSourceOptions,
  describeDatabaseError,
  readDatabaseEnv,
  runMigrationsLocked,
} from '@aigw/entities';
import { DataSource } from 'typeorm';
import { parseKeysArgs, USAGE, UsageError, type KeysCommand } from './args';
import { runKeysCommand, type KeysOutput } from './commands';

/** `npm run keys -- create|list|users|revoke`: API key administration from a shell. Exit 2 = bad arguments. */
async function main(argv: string[], io: KeysOutput): Promise<number> {
  let cmd: KeysCommand;
  try {
    cmd = parseKeysArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`keys: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    throw err;
  }
  if (cmd.kind === 'help') {
    io.out(USAGE);
    return 0;
  }
  const env = readDatabaseEnv(process.env);
  const dataSource = new DataSource(createDataSourceOptions({ ...env, poolSize: 2, applicationName: 'aigw-keys' }));
  await dataSource.initialize();
  try {
    const ran = await runMigrationsLocked(dataSource);
    if (ran.length > 0) {
      io.err(`(applied ${ran.length} pending migration(s) to schema "${env.schema}")`);
    }
    return await runKeysCommand(cmd, new ApiKeyStore(dataSource), dataSource, io);
  } finally {
    await dataSource.destroy();
  }
}

const io: KeysOutput = { out: (line) => console.log(line), err: (line) => console.error(line) };

main(process.argv.slice(2), io).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const message = err instanceof AmbiguousKeyPrefixError ? err.message : describeDatabaseError(err);
    io.err(`keys: ${message}`);
    process.exitCode = 1;
  },
);
