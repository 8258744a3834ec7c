import { SecretBox, SecretBoxError } from '@aigw/entities';
import { runDatabaseCli } from '../shared/database-cli';
import { parseSecretsArgs, USAGE, type SecretsCommand } from './args';
import { runSecretsCommand } from './commands';

let box: SecretBox;

/** `npm run secrets -- rotate|check`: SECRETS_KEY rotation from a shell. Exit 2 = bad arguments. */
runDatabaseCli<SecretsCommand>({
  name: 'secrets',
  usage: USAGE,
  parse: parseSecretsArgs,
  poolSize: 1,
  // Before anything connects: a bad key is named (never echoed) like the apps do at boot.
  prepare: (io) => {
    const opened = SecretBox.fromEnv(process.env.SECRETS_KEY, process.env.NODE_ENV, process.env.SECRETS_KEY_PREVIOUS);
    box = opened.box;
    if (opened.usingDevelopmentKey) {
      io.err('(SECRETS_KEY is not set: using the development key, as the apps do outside production)');
    }
  },
  run: (cmd, dataSource, io) => runSecretsCommand(cmd, dataSource, box, io),
  // SecretBoxError messages name variables and rows, never a key or a secret.
  describe: (err) => (err instanceof SecretBoxError ? err.message : undefined),
});
