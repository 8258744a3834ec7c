import { AmbiguousKeyPrefixError, ApiKeyStore } from '@aigw/entities';
import { runDatabaseCli } from '../shared/database-cli';
import { parseKeysArgs, USAGE, type KeysCommand } from './args';
import { announceAuthChange } from './announce';
import { runKeysCommand } from './commands';

/** `npm run keys -- create|list|users|revoke`: API key administration from a shell. Exit 2 = bad arguments. */
runDatabaseCli<KeysCommand>({
  name: 'keys',
  usage: USAGE,
  parse: parseKeysArgs,
  poolSize: 2,
  run: (cmd, dataSource, io) =>
    runKeysCommand(cmd, new ApiKeyStore(dataSource), dataSource, io, (userId) =>
      announceAuthChange(process.env, userId),
    ),
  describe: (err) => (err instanceof AmbiguousKeyPrefixError ? err.message : undefined),
});
